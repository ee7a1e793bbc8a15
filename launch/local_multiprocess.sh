#!/usr/bin/env bash
# Run N JAX processes on this machine as if they were N hosts of a pod (README "Design"):
# each one gets SIGNX_COORDINATOR=127.0.0.1:<free port>, SIGNX_NUM_PROCESSES=N,
# SIGNX_PROCESS_ID=i and its own simulated CPU devices, so that
# signx_jax.distributed.initialize() builds one N-process cluster (gloo collectives).
#
#   launch/local_multiprocess.sh 2 -- python -m signx_jax.main \
#     --config configs/demo.py:tiny --workdir runs/mp --steps data,stage1
#
# Output of process i is printed prefixed with "[p<i>] " and written to
# $SIGNX_LOG_DIR/proc-<i>.log. Exits with the first failing process's exit code after
# stopping the others, 0 when all succeed.
#
# Environment:
#   SIGNX_LOCAL_DEVICES     CPU devices per process (default 4)
#   SIGNX_COORDINATOR_PORT  coordinator port on 127.0.0.1 (default: a free one)
#   SIGNX_LOG_DIR           per-process logs (default runs/local-<date>-<pid>)
#   PYTHON                  interpreter used to find a free port (default python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=launch/procs.sh
source "$here/procs.sh"

usage() { # the header comment above, without its '#'
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  usage
  exit 0
fi
if [[ $# -lt 3 || ! $1 =~ ^[1-9][0-9]*$ || $2 != -- ]]; then
  echo "error: expected 'N -- command...' with N >= 1, got: $*" >&2
  echo "usage: launch/local_multiprocess.sh N -- command [args...]" >&2
  exit 2
fi
num_procs=$1
shift 2

devices="${SIGNX_LOCAL_DEVICES:-4}"
if [[ ! $devices =~ ^[1-9][0-9]*$ ]]; then
  echo "error: SIGNX_LOCAL_DEVICES must be a positive integer, got '$devices'" >&2
  exit 2
fi
port="${SIGNX_COORDINATOR_PORT:-}"
if [[ -z $port ]]; then
  # Bind port 0 and release it: the coordinator (process 0) takes it a moment later.
  port="$("${PYTHON:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')"
fi
log_dir="${SIGNX_LOG_DIR:-runs/local-$(date +%Y%m%d-%H%M%S)-$$}"
mkdir -p "$log_dir"

# Keep the caller's other XLA flags, replace only the device count.
xla_flags="$(printf '%s' "${XLA_FLAGS:-}" | sed -E 's/--xla_force_host_platform_device_count=[0-9]+//g')"
xla_flags="${xla_flags} --xla_force_host_platform_device_count=${devices}"

echo "[signx] $num_procs processes x $devices CPU devices, coordinator 127.0.0.1:$port," \
  "logs in $log_dir" >&2
signx_trap_signals
for ((i = 0; i < num_procs; i++)); do
  signx_start "p$i" "$log_dir/proc-$i.log" env \
    SIGNX_COORDINATOR="127.0.0.1:$port" \
    SIGNX_NUM_PROCESSES="$num_procs" \
    SIGNX_PROCESS_ID="$i" \
    JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}" \
    XLA_FLAGS="${xla_flags# }" \
    "$@"
done
signx_wait_all
