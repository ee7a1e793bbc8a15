# shellcheck shell=bash
# SLURM -> signx_jax.distributed environment, sourced by launch/slurm_gpu.sbatch (and
# by tests, which fake the SLURM_* variables and `scontrol`). Two halves, because the
# coordinator is looked up once in the batch step while the process id only exists
# inside each srun task:
#
#   signx_slurm_coordinator   exports SIGNX_COORDINATOR=<first node>:<port>
#   signx_slurm_task_env      exports SIGNX_NUM_PROCESSES, SIGNX_PROCESS_ID and, with
#                             several tasks per node sharing all GPUs, SIGNX_LOCAL_DEVICE_IDS
#
# SIGNX_COORDINATOR_PORT overrides the port; by default it is derived from the job id
# (as jax's own SLURM detection does) so two jobs sharing a node do not collide.

_signx_slurm_need() {
  local name
  for name in "$@"; do
    if [[ -z ${!name:-} ]]; then
      echo "error: \$$name is not set; run this under sbatch/srun (or set it)" >&2
      return 2
    fi
  done
}

signx_slurm_coordinator() {
  _signx_slurm_need SLURM_JOB_ID SLURM_JOB_NODELIST || return
  local first port
  # scontrol expands compressed lists like gpu[01-04,07] into one host per line.
  first="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
  if [[ -z $first ]]; then
    echo "error: 'scontrol show hostnames $SLURM_JOB_NODELIST' printed no host" >&2
    return 2
  fi
  port="${SIGNX_COORDINATOR_PORT:-$((SLURM_JOB_ID % 4096 + 61440))}"
  export SIGNX_COORDINATOR="$first:$port"
}

signx_slurm_task_env() {
  _signx_slurm_need SLURM_NTASKS SLURM_PROCID SLURM_LOCALID || return
  local nodes="${SLURM_STEP_NUM_NODES:-${SLURM_NNODES:-1}}"
  export SIGNX_NUM_PROCESSES="$SLURM_NTASKS"
  export SIGNX_PROCESS_ID="$SLURM_PROCID"
  # Several tasks per node (one per GPU) that all see every GPU must each pick one;
  # when SLURM already binds one GPU per task (--gpus-per-task=1) there is nothing to pick.
  if ((SLURM_NTASKS > nodes)) && [[ ${CUDA_VISIBLE_DEVICES:-,} == *,* ]]; then
    export SIGNX_LOCAL_DEVICE_IDS="$SLURM_LOCALID"
  fi
}
