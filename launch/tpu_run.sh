#!/usr/bin/env bash
# Train on a Cloud TPU VM slice (one host or a pod) from your laptop, with gcloud.
#
#   export SIGNX_TPU_NAME=signx-v5e SIGNX_TPU_ZONE=us-west4-a SIGNX_TPU_TYPE=v5litepod-16
#   launch/tpu_run.sh create                  # TPU VM (or --queued resource), reused if it exists
#   launch/tpu_run.sh setup                   # code + venv + requirements on every worker
#   launch/tpu_run.sh run -- python -m signx_jax.main \
#     --config configs/phoenix2014t.py:base --workdir gs://BUCKET/phx --steps stage3
#   launch/tpu_run.sh status                  # TPU state, and per worker: running? last log line
#   launch/tpu_run.sh logs                    # -> ./runs/<run>/worker-<i>.log
#   launch/tpu_run.sh stop                    # stop the training on all workers (TPU stays)
#   launch/tpu_run.sh delete                  # release the TPU (stops billing)
#
# `run` starts the same command on all workers, detached (it survives a dropped ssh):
# worker i writes <dir>/runs/<run>/worker-<i>.log, .pid and, when done, .exit. It
# exports SIGNX_DISTRIBUTED=tpu, so signx_jax.distributed.initialize() joins the slice.
# On a pod, give --workdir a bucket (gs://...): every worker writes its part of each
# checkpoint, and a restore must see all of them.
# `setup` ships this checkout (tracked + untracked, not ignored files) as a tarball, or
# with --repo clones a git URL at --ref; then installs requirements.txt and the
# matching jax[tpu] into <dir>/.venv with uv (TPU images ship Python 3.10).
#
# Options (flag, or the environment variable in brackets):
#   --name NAME               TPU VM / queued resource name [SIGNX_TPU_NAME] (required)
#   --zone ZONE               e.g. us-central2-b [SIGNX_TPU_ZONE] (required)
#   --project PROJECT         default: gcloud's configured project [SIGNX_GCP_PROJECT]
#   --accelerator-type TYPE   e.g. v4-32, v5litepod-16, v6e-8 [SIGNX_TPU_TYPE] (create)
#   --version RUNTIME         TPU software version; default from the type [SIGNX_TPU_RUNTIME]
#   --queued                  create through a queued resource [SIGNX_TPU_QUEUED=1]
#   --spot                    spot (preemptible) capacity [SIGNX_TPU_SPOT=1]
#   --wait-minutes M          create --queued waits until ACTIVE, 0 = return at once
#                             (default 60) [SIGNX_TPU_WAIT_MINUTES]
#   --repo URL, --ref REF     setup clones URL at REF (branch, tag or commit; default:
#                             the remote's HEAD) instead of copying this checkout
#                             [SIGNX_REPO_URL, SIGNX_REPO_REF]
#   --dir DIR                 code directory on the workers, relative to the remote
#                             home (default signx-jax) [SIGNX_TPU_DIR]
#   --python VERSION          Python of the workers' venv (default 3.11) [SIGNX_TPU_PYTHON]
#   --run-name RUN            names the run's log directory (default: the TPU name)
#                             [SIGNX_RUN_NAME]
#   --foreground              run: stay attached, stream the output [SIGNX_TPU_FOREGROUND=1]
#   --workers N               logs: number of workers (default: asked from gcloud)
#                             [SIGNX_TPU_WORKERS]
#   --dry-run                 print each gcloud command, one per line, run nothing
#                             [SIGNX_DRY_RUN=1]
#   -h, --help                this text
# Switches also take a value (--spot=false) to override their variable. To pass
# variables to the training, start its command with env: -- env XLA_FLAGS=... python ...
# ssh/scp to all workers at once needs your key in an agent first:
#   ssh-add ~/.ssh/google_compute_engine
set -euo pipefail
repo_root="$(cd "$(dirname "$0")/.." && pwd)"

usage() { # the header comment above, without its '#'
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
die() {
  echo "error: $*" >&2
  echo "run 'launch/tpu_run.sh --help' for usage" >&2
  exit 2
}
truthy() { [[ ${1,,} =~ ^(1|true|yes|on)$ ]]; }

# ---------------------------------------------------------------- options
name="${SIGNX_TPU_NAME:-}"
zone="${SIGNX_TPU_ZONE:-}"
project="${SIGNX_GCP_PROJECT:-}"
accelerator_type="${SIGNX_TPU_TYPE:-}"
runtime="${SIGNX_TPU_RUNTIME:-}"
queued="${SIGNX_TPU_QUEUED:-0}"
spot="${SIGNX_TPU_SPOT:-0}"
wait_minutes="${SIGNX_TPU_WAIT_MINUTES:-60}"
repo_url="${SIGNX_REPO_URL:-}"
repo_ref="${SIGNX_REPO_REF:-}"
remote_dir="${SIGNX_TPU_DIR:-signx-jax}"
python_version="${SIGNX_TPU_PYTHON:-3.11}"
run_name="${SIGNX_RUN_NAME:-}"
foreground="${SIGNX_TPU_FOREGROUND:-0}"
workers="${SIGNX_TPU_WORKERS:-}"
dry_run="${SIGNX_DRY_RUN:-0}"
# Seconds between two queued-resource polls; only tests change it.
poll_seconds="${SIGNX_TPU_POLL_SECONDS:-30}"

subcommand=""
train_cmd=()
while [[ $# -gt 0 ]]; do
  arg="$1"
  shift
  # Accept --flag=value as well as --flag value.
  inline=0
  if [[ $arg == --*=* ]]; then
    set -- "${arg#*=}" "$@"
    arg="${arg%%=*}"
    inline=1
  fi
  # Switches: --spot sets 1, --spot=false/0 clears (to override SIGNX_TPU_SPOT=1).
  on=1
  case "$arg" in
    --queued | --spot | --foreground | --dry-run) ((inline == 0)) || { on="$1" && shift; } ;;
  esac
  case "$arg" in
    --name) name="${1:?--name needs a value}" && shift ;;
    --zone) zone="${1:?--zone needs a value}" && shift ;;
    --project) project="${1:?--project needs a value}" && shift ;;
    --accelerator-type) accelerator_type="${1:?--accelerator-type needs a value}" && shift ;;
    --version) runtime="${1:?--version needs a value}" && shift ;;
    --queued) queued="$on" ;;
    --spot) spot="$on" ;;
    --wait-minutes) wait_minutes="${1:?--wait-minutes needs a value}" && shift ;;
    --repo) repo_url="${1:?--repo needs a URL}" && shift ;;
    --ref) repo_ref="${1:?--ref needs a value}" && shift ;;
    --dir) remote_dir="${1:?--dir needs a value}" && shift ;;
    --python) python_version="${1:?--python needs a version}" && shift ;;
    --run-name) run_name="${1:?--run-name needs a value}" && shift ;;
    --foreground) foreground="$on" ;;
    --workers) workers="${1:?--workers needs a number}" && shift ;;
    --dry-run) dry_run="$on" ;;
    -h | --help) usage && exit 0 ;;
    --) train_cmd=("$@") && break ;;
    -*) die "unknown option '$arg'" ;;
    *)
      [[ -z $subcommand ]] || die "unexpected argument '$arg' (the training command goes after --)"
      subcommand="$arg"
      ;;
  esac
done

[[ -n $subcommand ]] || die "missing subcommand: create, setup, run, status, stop, delete or logs"
[[ -n $name ]] || die "missing --name (or SIGNX_TPU_NAME)"
[[ -n $zone ]] || die "missing --zone (or SIGNX_TPU_ZONE)"
[[ -z $repo_ref || -n $repo_url ]] || die "--ref (SIGNX_REPO_REF) needs --repo (SIGNX_REPO_URL)"
[[ $wait_minutes =~ ^[0-9]+$ ]] || die "--wait-minutes must be a whole number, got '$wait_minutes'"
[[ -z $workers || $workers =~ ^[1-9][0-9]*$ ]] || die "--workers must be >= 1, got '$workers'"
run_name="${run_name:-$name}"
[[ $run_name =~ ^[A-Za-z0-9_.-]+$ ]] || die "--run-name may only use letters, digits, '_.-'"
# setup empties this directory (except .venv and runs), so never the home or a parent.
if [[ ! $remote_dir =~ ^[A-Za-z0-9_./-]+$ || $remote_dir =~ (^|/)\.{1,2}/?$ ||
  $remote_dir == */.. || $remote_dir == *../* || $remote_dir == / ]]; then
  die "--dir must name a code directory like signx-jax or /data/signx, got '$remote_dir'"
fi

# ---------------------------------------------------------------- gcloud helpers
where=("--zone=$zone")
[[ -z $project ]] || where+=("--project=$project")

shell_quote() { # print the arguments as one shell-quoted line (bash can re-read it)
  local a s out=()
  for a in "$@"; do
    if [[ -n $a && $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+=("$a")
    elif [[ $a == *$'\n'* ]]; then
      out+=("$(printf %q "$a")") # $'...\n...': keeps one command per line
    else
      s=${a//"'"/"'\\''"}
      out+=("'$s'")
    fi
  done
  echo "${out[*]}"
}

# Dry-run lines go to fd 3, the script's stdout, even from inside $(...).
exec 3>&1
gc() { # gc ARGS...: run `gcloud ARGS...`, or only print it under --dry-run
  if truthy "$dry_run"; then
    shell_quote gcloud "$@" >&3
    return 0
  fi
  echo "+ $(shell_quote gcloud "$@")" >&2
  gcloud "$@"
}

gc_query() { # gc_query ARGS...: a read-only gcloud call whose stdout the script uses
  if truthy "$dry_run"; then
    shell_quote gcloud "$@" >&3
    return 1 # "unknown": callers take the path that does not depend on the answer
  fi
  gcloud "$@" 2>/dev/null
}

on_all_workers() { # on_all_workers SCRIPT: run a bash script on every worker
  gc compute tpus tpu-vm ssh "$name" "${where[@]}" --worker=all --command="$1"
}

# Remote prologue: fail fast, enter the code dir, learn this worker's index (the TPU
# metadata server knows it on every TPU VM).
remote_prologue="set -euo pipefail
cd $(shell_quote "$remote_dir")
w=\"\${TPU_WORKER_ID:-\$(curl -sf -m 10 -H Metadata-Flavor:Google \\
  http://metadata.google.internal/computeMetadata/v1/instance/attributes/agent-worker-number)}\"
[ -n \"\$w\" ] || { echo \"cannot read this TPU worker's index from the metadata server\" >&2; exit 1; }
run_dir=runs/$run_name
# alive PID_FILE: the recorded job still runs (a zombie, not yet reaped, does not count).
alive() { [ -f \"\$1\" ] && case \"\$(ps -o stat= -p \"\$(cat \"\$1\")\" 2>/dev/null)\" in
  '' | Z*) false ;; *) true ;; esac; }
"

default_runtime() { # the TPU software version Google recommends for each generation
  case "$1" in
    v2-* | v3-* | v4-*) echo tpu-ubuntu2204-base ;;
    v5litepod-* | v5e-*) echo v2-alpha-tpuv5-lite ;;
    v5p-*) echo v2-alpha-tpuv5 ;;
    v6e-*) echo v2-alpha-tpuv6e ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------- subcommands
cmd_create() {
  [[ -n $accelerator_type ]] || die "create needs --accelerator-type (or SIGNX_TPU_TYPE)"
  runtime="${runtime:-$(default_runtime "$accelerator_type")}" ||
    die "no default runtime for '$accelerator_type'; pass --version (or SIGNX_TPU_RUNTIME)"
  local extra=()
  truthy "$spot" && extra+=(--spot)
  if truthy "$queued"; then
    if gc_query compute tpus queued-resources describe "$name" "${where[@]}" >/dev/null; then
      echo "queued resource $name exists; reusing it" >&2
    else
      gc compute tpus queued-resources create "$name" "${where[@]}" --node-id="$name" \
        --accelerator-type="$accelerator_type" --runtime-version="$runtime" "${extra[@]}"
    fi
    wait_until_active
  elif gc_query compute tpus tpu-vm describe "$name" "${where[@]}" >/dev/null; then
    echo "TPU VM $name exists; reusing it" >&2
  else
    gc compute tpus tpu-vm create "$name" "${where[@]}" \
      --accelerator-type="$accelerator_type" --version="$runtime" "${extra[@]}"
  fi
}

wait_until_active() { # poll the queued resource: capacity may take minutes to hours
  ((wait_minutes > 0)) || return 0
  local deadline=$((SECONDS + wait_minutes * 60)) state
  while true; do
    state="$(gc_query compute tpus queued-resources describe "$name" "${where[@]}" \
      --format='value(state.state)')" || state=""
    truthy "$dry_run" && return 0
    case "$state" in
      ACTIVE) echo "queued resource $name is ACTIVE" >&2 && return 0 ;;
      FAILED | SUSPENDED) die "queued resource $name is $state; see 'status', then 'delete'" ;;
    esac
    ((SECONDS < deadline)) || die "queued resource $name still '$state' after $wait_minutes min"
    echo "queued resource $name is ${state:-not visible yet}; waiting" >&2
    sleep "$poll_seconds"
  done
}

cmd_setup() {
  local fetch
  if [[ -n $repo_url ]]; then
    fetch="if [ -d $(shell_quote "$remote_dir")/.git ]; then :; else
  git clone --quiet $(shell_quote "$repo_url") $(shell_quote "$remote_dir"); fi
cd $(shell_quote "$remote_dir")
git fetch --quiet origin $(shell_quote "${repo_ref:-HEAD}")
git checkout --quiet --detach FETCH_HEAD
"
  else
    # Relative scp destinations land in the remote home.
    local tarball=signx-jax-src.tar.gz
    ship_checkout "$tarball"
    # Replace the old code but keep the venv and earlier runs' logs. One command per
    # line: set -e ignores a failing 'cd' inside an && list, and then find would
    # empty the home directory.
    fetch="mkdir -p $(shell_quote "$remote_dir")
cd $(shell_quote "$remote_dir")
[ \"\$(pwd -P)\" != \"\$(cd && pwd -P)\" ] || { echo 'refusing to empty the home directory' >&2; exit 1; }
find . -mindepth 1 -maxdepth 1 ! -name .venv ! -name runs -exec rm -rf {} +
tar xzf \"\$HOME/$tarball\"
rm -f \"\$HOME/$tarball\"
"
  fi
  on_all_workers "set -euo pipefail
$fetch
command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh
export PATH=\"\$HOME/.local/bin:\$PATH\"
uv venv --quiet --allow-existing --python $(shell_quote "$python_version") .venv
# jax[tpu] pinned to requirements.txt's jax so libtpu matches the jaxlib it was built for.
jax_version=\"\$(sed -n 's/^jax==//p' requirements.txt)\"
uv pip install --quiet --python .venv/bin/python -r requirements.txt \"jax[tpu]==\$jax_version\"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
echo \"worker ready: \$(.venv/bin/python -c 'import jax; print(jax.__version__)')\""
}

ship_checkout() { # ship_checkout REMOTE_TARBALL: tar this checkout, copy it to all workers
  local tmp local_tar
  if truthy "$dry_run"; then
    echo "(dry run: would pack $repo_root into a tarball)" >&2
    local_tar="${TMPDIR:-/tmp}/signx-jax-src.tar.gz"
  else
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: $tmp is local to this function
    trap "rm -rf '$tmp'" EXIT
    local_tar="$tmp/signx-jax-src.tar.gz"
    pack_checkout "$local_tar"
  fi
  gc compute tpus tpu-vm scp "$local_tar" "$name:$1" "${where[@]}" --worker=all
}

pack_checkout() { # pack_checkout TARBALL: the files git would commit (no .venv, runs, caches)
  if git -C "$repo_root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (
      cd "$repo_root"
      git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        tar czf "$1" --null -T -
    )
  else
    tar czf "$1" -C "$repo_root" --exclude=.venv --exclude=runs --exclude=.git \
      --exclude=__pycache__ .
  fi
}

cmd_run() {
  [[ ${#train_cmd[@]} -gt 0 ]] || die "run needs the training command after --"
  local job launch
  job="$(shell_quote "${train_cmd[@]}")"
  if truthy "$foreground"; then
    launch="$job 2>&1 | tee \"\$log\""
  else
    # setsid: a session of its own, so it outlives the ssh connection, and its pid
    # (written by the job itself) is the process group that 'stop' ends.
    job="echo \$\$ > \"\$SIGNX_PID_FILE\"; $job; echo \$? > \"\$SIGNX_EXIT_FILE\""
    launch="setsid nohup bash -c $(shell_quote "$job") > \"\$log\" 2>&1 < /dev/null &
echo \"worker \$w: started, log $(shell_quote "$remote_dir")/\$log\""
  fi
  on_all_workers "$remote_prologue
log=\"\$run_dir/worker-\$w.log\" pid_file=\"\$run_dir/worker-\$w.pid\"
if alive \"\$pid_file\"; then
  echo \"worker \$w: run $run_name is still running; 'stop' it or pick another --run-name\" >&2
  exit 1
fi
mkdir -p \"\$run_dir\" && rm -f \"\$run_dir/worker-\$w.exit\"
export SIGNX_DISTRIBUTED=tpu SIGNX_RUN_NAME=$run_name
export SIGNX_EXIT_FILE=\"\$PWD/\$run_dir/worker-\$w.exit\" SIGNX_PID_FILE=\"\$PWD/\$pid_file\"
# The venv's python first on PATH (what 'activate' does, without its set -u pitfalls).
export VIRTUAL_ENV=\"\$PWD/.venv\" PATH=\"\$PWD/.venv/bin:\$PATH\"
$launch"
}

cmd_status() {
  if truthy "$queued"; then
    gc compute tpus queued-resources describe "$name" "${where[@]}" \
      --format='value(name.basename(),state.state)'
  fi
  gc compute tpus tpu-vm describe "$name" "${where[@]}" \
    --format='value(name.basename(),acceleratorType,state,health)'
  on_all_workers "$remote_prologue
pid_file=\"\$run_dir/worker-\$w.pid\" exit_file=\"\$run_dir/worker-\$w.exit\"
if alive \"\$pid_file\"; then
  state=running
elif [ -f \"\$exit_file\" ]; then state=\"exited \$(cat \"\$exit_file\")\"
elif [ -f \"\$pid_file\" ]; then state=killed
else state='not started'; fi
echo \"worker \$w: $run_name \$state | \$(tail -n 1 \"\$run_dir/worker-\$w.log\" 2>/dev/null)\""
}

cmd_stop() {
  on_all_workers "$remote_prologue
pid_file=\"\$run_dir/worker-\$w.pid\"
if alive \"\$pid_file\"; then
  kill -TERM -- \"-\$(cat \"\$pid_file\")\" && echo \"worker \$w: stopped $run_name\"
else echo \"worker \$w: $run_name is not running\"; fi"
}

cmd_delete() {
  if truthy "$queued"; then
    # --force also deletes the TPU VM the queued resource created.
    gc compute tpus queued-resources delete "$name" "${where[@]}" --force
  else
    gc compute tpus tpu-vm delete "$name" "${where[@]}"
  fi
}

cmd_logs() {
  local n="$workers" i dest="runs/$run_name"
  if [[ -z $n ]]; then
    n="$(gc_query compute tpus tpu-vm describe "$name" "${where[@]}" \
      --format='value(networkEndpoints.len())')" || n=""
    if truthy "$dry_run"; then
      echo "(dry run: worker count unknown, showing worker 0; pass --workers N)" >&2
      n=1
    fi
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "could not read the worker count of $name; pass --workers N"
  fi
  truthy "$dry_run" || mkdir -p "$dest"
  # One scp per worker: gcloud copies *from* a single worker at a time.
  for ((i = 0; i < n; i++)); do
    gc compute tpus tpu-vm scp "$name:$remote_dir/runs/$run_name/worker-$i.log" \
      "$dest/worker-$i.log" "${where[@]}" --worker="$i"
  done
  truthy "$dry_run" || echo "logs of $n worker(s) in $dest/" >&2
}

case "$subcommand" in
  create | setup | run | status | stop | delete | logs) "cmd_$subcommand" ;;
  *) die "unknown subcommand '$subcommand'; expected create, setup, run, status, stop, delete or logs" ;;
esac
