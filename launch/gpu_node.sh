#!/usr/bin/env bash
# torchrun-style launcher for GPU machines without SLURM: run it once on every node
# with the same coordinator and the node's rank; it starts the node's JAX processes
# with the variables signx_jax.distributed.initialize() reads.
#
#   # on node 0 (10.0.0.2) and node 1, same command except --node-rank:
#   launch/gpu_node.sh --coordinator 10.0.0.2:12345 --num-nodes 2 --node-rank 0 -- \
#     python -m signx_jax.main --config configs/phoenix2014t.py:base \
#     --workdir /shared/runs/phx --steps stage3
#
# Options (each also read from the environment variable in brackets):
#   --coordinator HOST:PORT  process 0's address, reachable from all nodes [SIGNX_COORDINATOR]
#   --num-nodes N            number of nodes [SIGNX_NUM_NODES]
#   --node-rank R            this node, 0..N-1; rank 0 hosts the coordinator [SIGNX_NODE_RANK]
#   --procs-per-node P       1 (default): one process drives all local GPUs, the JAX way;
#                            P > 1: one process per GPU, process i uses GPU i [SIGNX_PROCS_PER_NODE]
#   --log-dir DIR            per-process logs proc-<global id>.log (default
#                            runs/node-<R>-<date>) [SIGNX_LOG_DIR]
#   --dry-run                print each process's variables and command, run nothing [SIGNX_DRY_RUN]
# Process ids are global: node R's process i is R * P + i. Exits non-zero (after
# stopping the node's other processes) as soon as one of its processes fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=launch/procs.sh
source "$here/procs.sh"

usage() { # the header comment above, without its '#'
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
die() {
  echo "error: $*" >&2
  echo "run 'launch/gpu_node.sh --help' for usage" >&2
  exit 2
}
truthy() { [[ ${1,,} =~ ^(1|true|yes|on)$ ]]; }
need_int() { # need_int NAME VALUE MIN
  if [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < $3)); then
    die "$1 must be an integer >= $3, got '$2'"
  fi
}

coordinator="${SIGNX_COORDINATOR:-}"
num_nodes="${SIGNX_NUM_NODES:-}"
node_rank="${SIGNX_NODE_RANK:-}"
procs_per_node="${SIGNX_PROCS_PER_NODE:-1}"
log_dir="${SIGNX_LOG_DIR:-}"
dry_run="${SIGNX_DRY_RUN:-0}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --coordinator) coordinator="${2:?--coordinator needs HOST:PORT}" && shift 2 ;;
    --num-nodes) num_nodes="${2:?--num-nodes needs a value}" && shift 2 ;;
    --node-rank) node_rank="${2:?--node-rank needs a value}" && shift 2 ;;
    --procs-per-node) procs_per_node="${2:?--procs-per-node needs a value}" && shift 2 ;;
    --log-dir) log_dir="${2:?--log-dir needs a directory}" && shift 2 ;;
    --dry-run) dry_run=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    *) die "unknown option '$1' (the training command goes after --)" ;;
  esac
done
[[ $# -gt 0 ]] || die "no training command after --"
[[ $coordinator =~ ^[^:]+:[0-9]+$ ]] || die "--coordinator must be HOST:PORT, got '$coordinator'"
need_int --num-nodes "$num_nodes" 1
need_int --node-rank "$node_rank" 0
need_int --procs-per-node "$procs_per_node" 1
((node_rank < num_nodes)) || die "--node-rank $node_rank must be < --num-nodes $num_nodes"
log_dir="${log_dir:-runs/node-$node_rank-$(date +%Y%m%d-%H%M%S)}"

signx_trap_signals
for ((i = 0; i < procs_per_node; i++)); do
  process_id=$((node_rank * procs_per_node + i))
  vars=(
    SIGNX_COORDINATOR="$coordinator"
    SIGNX_NUM_PROCESSES="$((num_nodes * procs_per_node))"
    SIGNX_PROCESS_ID="$process_id"
  )
  # One process per GPU: each must claim a different local GPU.
  ((procs_per_node == 1)) || vars+=(SIGNX_LOCAL_DEVICE_IDS="$i")
  if truthy "$dry_run"; then
    printf '%q ' "${vars[@]}" "$@"
    echo
    continue
  fi
  mkdir -p "$log_dir"
  signx_start "p$process_id" "$log_dir/proc-$process_id.log" env "${vars[@]}" "$@"
done
truthy "$dry_run" || signx_wait_all
