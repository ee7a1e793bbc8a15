# shellcheck shell=bash
# Process-group helpers sourced by launch/local_multiprocess.sh and launch/gpu_node.sh
# (not run on its own). They start several copies of a training command, stream each
# one's output with a "[label] " prefix while also writing it to its own log file, and
# wait for all of them; the first one that fails ends the others (a multi-process JAX
# job whose peer died only hangs in its next collective).
#
#   source launch/procs.sh
#   signx_start p0 runs/x/proc-0.log env SIGNX_PROCESS_ID=0 python train.py
#   signx_start p1 runs/x/proc-1.log env SIGNX_PROCESS_ID=1 python train.py
#   signx_wait_all   # returns the first non-zero exit code, or 0
#
# Works with bash 3.2 (macOS): it polls instead of using `wait -n -p`.

SIGNX_PIDS=()
SIGNX_LABELS=()

# signx_start LABEL LOGFILE CMD... : run CMD in the background in its own process group.
signx_start() {
  local label=$1 logfile=$2
  shift 2
  # Job control gives each background job its own process group, so that stopping a
  # job (`kill -- -PID`) also stops the tee/awk of its pipeline and any children.
  set -m
  (
    # A read loop rather than awk/sed: mawk and BSD sed buffer their input by default.
    "$@" 2>&1 | tee "$logfile" | while IFS= read -r line || [[ -n $line ]]; do
      printf '[%s] %s\n' "$label" "$line"
    done
    exit "${PIPESTATUS[0]}"
  ) &
  SIGNX_PIDS+=("$!")
  SIGNX_LABELS+=("$label")
  set +m
}

# signx_kill_all: TERM every process group started by signx_start that still runs.
signx_kill_all() {
  local pid
  for pid in "${SIGNX_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${SIGNX_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}

# signx_wait_all: wait for every started job; on the first failure, stop the rest
# and return its exit code.
signx_wait_all() {
  local n=${#SIGNX_PIDS[@]} i rc
  local -a done_flags=()
  local remaining=$n
  for ((i = 0; i < n; i++)); do done_flags[i]=0; done
  while ((remaining > 0)); do
    for ((i = 0; i < n; i++)); do
      ((done_flags[i] == 0)) || continue
      # bash reaps finished children itself, so kill -0 fails once a job has ended.
      kill -0 "${SIGNX_PIDS[i]}" 2>/dev/null && continue
      rc=0
      wait "${SIGNX_PIDS[i]}" || rc=$?
      done_flags[i]=1
      remaining=$((remaining - 1))
      if ((rc != 0)); then
        echo "[signx] ${SIGNX_LABELS[i]} (pid ${SIGNX_PIDS[i]}) exited with code $rc;" \
          "stopping the other processes" >&2
        signx_kill_all
        return "$rc"
      fi
    done
    ((remaining == 0)) || sleep 0.2
  done
  return 0
}

# Ctrl-C or a scheduler's TERM reaches only this shell (the jobs have their own
# process groups), so forward it.
signx_trap_signals() {
  trap 'echo "[signx] interrupted; stopping all processes" >&2; signx_kill_all; exit 130' INT TERM
}
