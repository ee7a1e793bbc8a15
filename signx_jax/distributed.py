"""Multi-host start-up: one call that joins the right jax.distributed cluster (README "Design").

Call `initialize()` first thing in every entry point, before any JAX computation:

    from signx_jax import distributed
    distributed.initialize()          # no-op on a laptop, joins the pod on a TPU slice
    if distributed.is_coordinator():  # process 0 writes summaries, prints banners
        ...

Which cluster it joins, in order of precedence:

1. explicit: the arguments, else SIGNX_COORDINATOR / SIGNX_NUM_PROCESSES /
   SIGNX_PROCESS_ID (set by launch/local_multiprocess.sh, launch/gpu_node.sh and
   launch/slurm_gpu.sbatch). SIGNX_LOCAL_DEVICE_IDS ("0" or "0,1") pins a
   process to some of the host's accelerators (one process per GPU).
2. SLURM: inside `srun` with more than one task, jax's own SLURM detection
   (coordinator = first node of the step, port derived from the job id).
3. TPU: on a Cloud TPU VM, `jax.distributed.initialize()` with no arguments;
   jax reads worker ids and addresses from the TPU metadata server.
4. nothing: a single process (laptop, one GPU, Colab) needs no coordinator.

SIGNX_DISTRIBUTED=explicit|slurm|tpu|none forces one of these; launch/tpu_run.sh
sets `tpu` so that a pod worker that cannot reach its peers fails loudly instead
of training alone. In `auto` mode (the default) a TPU host where auto-detection
fails (Colab, Kaggle: one host, no metadata) continues as a single process.
"""

from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger(__name__)

MODES = ("auto", "explicit", "slurm", "tpu", "none")
# Variables a TPU runtime sets on GKE / queued resources / older TPU VM images.
_TPU_ENV_VARS = ("TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES", "TPU_ACCELERATOR_TYPE", "TPU_NAME")
# jax's SlurmCluster reads exactly these (SLURM_STEP_NODELIST only exists inside srun).
_SLURM_ENV_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"signx_jax.distributed: ${name}={value!r} is not an integer") from None


def _explicit_config(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> tuple[str, int, int] | None:
    """(coordinator, count, id) from the arguments or SIGNX_* env, None if none is set."""
    coordinator = coordinator or os.environ.get("SIGNX_COORDINATOR") or None
    num_processes = num_processes if num_processes is not None else _env_int("SIGNX_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _env_int("SIGNX_PROCESS_ID")
    given = {
        "coordinator (SIGNX_COORDINATOR)": coordinator,
        "num_processes (SIGNX_NUM_PROCESSES)": num_processes,
        "process_id (SIGNX_PROCESS_ID)": process_id,
    }
    if all(v is None for v in given.values()):
        return None
    missing = [name for name, v in given.items() if v is None]
    if missing:
        raise ValueError(
            "signx_jax.distributed: a multi-process run needs coordinator, num_processes and "
            f"process_id together; missing {', '.join(missing)}"
        )
    if ":" not in coordinator:
        raise ValueError(
            f"signx_jax.distributed: coordinator {coordinator!r} must be host:port, "
            "e.g. 10.0.0.2:12345"
        )
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"signx_jax.distributed: process_id {process_id} is outside [0, {num_processes})"
        )
    return coordinator, num_processes, process_id


def _local_device_ids() -> list[int] | None:
    value = os.environ.get("SIGNX_LOCAL_DEVICE_IDS", "").strip()
    if not value:
        return None
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(
            f"signx_jax.distributed: $SIGNX_LOCAL_DEVICE_IDS={value!r} must be like '0' or '0,1'"
        ) from None


def in_slurm_multitask() -> bool:
    """True inside an srun step with more than one task (what jax's SLURM detection needs)."""
    if not all(v in os.environ for v in _SLURM_ENV_VARS):
        return False
    return (_env_int("SLURM_NTASKS") or 1) > 1


def on_tpu_host() -> bool:
    """True on a machine with TPU chips, without asking the metadata server (fast off-TPU)."""
    if any(os.environ.get(v) for v in _TPU_ENV_VARS):
        return True
    try:
        # jax's own PCI scan; private, so any failure just means "not detected".
        from jax._src import hardware_utils

        return hardware_utils.num_available_tpu_chips_and_device_id()[0] > 0
    except Exception:  # detection must never break a CPU run
        return False


def detect_mode() -> str:
    """The cluster kind initialize() would join: one of MODES minus 'auto'."""
    forced = os.environ.get("SIGNX_DISTRIBUTED", "auto").strip().lower() or "auto"
    if forced not in MODES:
        raise ValueError(f"signx_jax.distributed: $SIGNX_DISTRIBUTED={forced!r}, expected {MODES}")
    if forced != "auto":
        return forced
    if _explicit_config(None, None, None) is not None:
        return "explicit"
    if in_slurm_multitask():
        return "slurm"
    if on_tpu_host():
        return "tpu"
    return "none"


def _use_gloo_for_cpu() -> None:
    # Cross-process collectives on the CPU backend need an implementation; it must be
    # chosen before the backend exists. Harmless on GPU/TPU (only the CPU client reads it).
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")


def initialize(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join the multi-process cluster this process belongs to, or do nothing if single.

    Safe to call more than once: later calls only log. Must run before the first JAX
    computation (jax raises otherwise). Explicit arguments win over the environment.
    """
    if jax.distributed.is_initialized():
        log.info("jax.distributed already initialized: process %d", jax.process_index())
        return
    explicit = _explicit_config(coordinator, num_processes, process_id)
    mode = "explicit" if explicit is not None else detect_mode()

    if mode == "none":
        log.info("signx_jax.distributed: single process, no coordinator")
        return
    _use_gloo_for_cpu()
    if mode == "explicit":
        if explicit is None:
            raise ValueError(
                "signx_jax.distributed: SIGNX_DISTRIBUTED=explicit but no coordinator, "
                "num_processes and process_id were given"
            )
        address, count, index = explicit
        log.info("signx_jax.distributed: explicit, process %d/%d via %s", index, count, address)
        jax.distributed.initialize(
            coordinator_address=address,
            num_processes=count,
            process_id=index,
            local_device_ids=_local_device_ids(),
        )
    elif mode == "slurm":
        _initialize_slurm()
    elif mode == "tpu":
        _initialize_tpu(forced=os.environ.get("SIGNX_DISTRIBUTED", "").lower() == "tpu")
    if jax.distributed.is_initialized():
        log.info(
            "signx_jax.distributed: process %d of %d, %d local / %d global devices",
            jax.process_index(),
            jax.process_count(),
            jax.local_device_count(),
            jax.device_count(),
        )


def _initialize_slurm() -> None:
    missing = [v for v in _SLURM_ENV_VARS if v not in os.environ]
    if missing:  # only possible with SIGNX_DISTRIBUTED=slurm outside srun
        raise ValueError(
            f"signx_jax.distributed: SLURM mode needs {', '.join(missing)}; run under srun"
        )
    tasks = _env_int("SLURM_NTASKS") or 1
    nodes = _env_int("SLURM_STEP_NUM_NODES") or _env_int("SLURM_NNODES") or 1
    log.info("signx_jax.distributed: SLURM job %s, %d tasks", os.environ["SLURM_JOB_ID"], tasks)
    if tasks > nodes:
        # One task per GPU: jax's detection pins each task to GPU $SLURM_LOCALID.
        jax.distributed.initialize(cluster_detection_method="slurm")
        return
    # One task per node: jax's detection would still pin the task to GPU
    # $SLURM_LOCALID (= 0) and hide the others, so take only its coordinator.
    from jax._src.clusters import SlurmCluster

    jax.distributed.initialize(
        coordinator_address=SlurmCluster.get_coordinator_address(
            None, os.environ.get("JAX_COORDINATOR_PORT")
        ),
        num_processes=tasks,
        process_id=_env_int("SLURM_PROCID"),
        cluster_detection_method="deactivate",
    )


def _initialize_tpu(forced: bool) -> None:
    try:
        jax.distributed.initialize()
    except (ValueError, RuntimeError) as e:
        # One-host TPU runtimes without the GCE metadata server (Colab, Kaggle) cannot be
        # auto-detected, and need no coordinator anyway. On a pod launched by
        # tpu_run.sh (forced) training alone would be silently wrong, so re-raise.
        if forced:
            raise RuntimeError(
                "signx_jax.distributed: SIGNX_DISTRIBUTED=tpu but jax could not join the "
                f"TPU slice ({e}); check that every worker runs the same command"
            ) from e
        log.warning("signx_jax.distributed: TPU cluster not detected (%s); single process", e)
        return
    log.info("signx_jax.distributed: TPU slice")


def is_coordinator() -> bool:
    """True on process 0, the one that writes logs, summaries and exported files."""
    return jax.process_index() == 0
