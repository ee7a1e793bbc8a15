"""signx_jax.distributed and launch/local_multiprocess.sh.

The end-to-end test starts 2 real JAX processes (2 CPU devices each) that join one
cluster through initialize() and sum a global array across processes with gloo. The
other tests check which cluster kind initialize() picks from the environment, without
initializing anything in the pytest process (that would be irreversible).
"""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from signx_jax import distributed

REPO = Path(__file__).resolve().parents[2]
LOCAL_MP = REPO / "launch" / "local_multiprocess.sh"

PROGRAM = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from signx_jax import distributed

    distributed.initialize()
    distributed.initialize()  # idempotent
    local = jax.local_device_count()
    assert jax.process_count() == 2, jax.process_count()
    assert jax.device_count() == 2 * local == 4, (jax.device_count(), local)
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    # Process p contributes p + 1 on each of its devices: global sum = 2*1 + 2*2 = 6.
    rows = np.full((local, 3), jax.process_index() + 1, np.float32)
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), rows)
    total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, P()))(x)
    assert float(total) == 3 * (2 * 1 + 2 * 2), float(total)
    print(f"ok process={jax.process_index()} coordinator={distributed.is_coordinator()}")
    """
)


def run_local(n: int, cmd: list[str], tmp_path: Path, timeout: float = 60):
    env = dict(os.environ, SIGNX_LOCAL_DEVICES="2", SIGNX_LOG_DIR=str(tmp_path / "logs"))
    env["PYTHONPATH"] = f"{REPO}:{env.get('PYTHONPATH', '')}"
    for key in ("SIGNX_COORDINATOR", "SIGNX_NUM_PROCESSES", "SIGNX_PROCESS_ID"):
        env.pop(key, None)
    return subprocess.run(
        ["bash", str(LOCAL_MP), str(n), "--", *cmd],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_two_processes_form_one_cluster_and_sum_across_it(tmp_path):
    proc = run_local(2, [sys.executable, "-c", PROGRAM], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[p0] ok process=0 coordinator=True" in proc.stdout
    assert "[p1] ok process=1 coordinator=False" in proc.stdout
    # Each process's output is also in its own log, unprefixed.
    assert "ok process=1" in (tmp_path / "logs" / "proc-1.log").read_text()


def test_a_failing_process_stops_the_others(tmp_path):
    script = 'if [ "$SIGNX_PROCESS_ID" = 1 ]; then exit 3; fi; sleep 30'
    start = time.monotonic()
    proc = run_local(3, ["sh", "-c", script], tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "p1" in proc.stderr and "exited with code 3" in proc.stderr
    assert time.monotonic() - start < 15  # did not wait for the sleeping ones


def test_local_multiprocess_usage_errors(tmp_path):
    for args in (["0", "--", "true"], ["2", "true"], ["x", "--", "true"]):
        proc = subprocess.run(["bash", str(LOCAL_MP), *args], capture_output=True, text=True)
        assert proc.returncode == 2 and "N -- command" in proc.stderr, args


@pytest.fixture
def clean_env(monkeypatch):
    """No cluster variables from the machine running the tests."""
    for key in list(os.environ):
        if key.startswith(("SIGNX_", "SLURM_", "TPU_")):
            monkeypatch.delenv(key)
    return monkeypatch


def test_single_process_by_default(clean_env):
    assert distributed.detect_mode() == "none"
    distributed.initialize()  # a no-op: nothing to join
    import jax

    assert not jax.distributed.is_initialized()
    assert distributed.is_coordinator()


def test_explicit_environment_is_detected(clean_env):
    clean_env.setenv("SIGNX_COORDINATOR", "10.0.0.2:1234")
    clean_env.setenv("SIGNX_NUM_PROCESSES", "4")
    clean_env.setenv("SIGNX_PROCESS_ID", "3")
    assert distributed.detect_mode() == "explicit"
    assert distributed._explicit_config(None, None, None) == ("10.0.0.2:1234", 4, 3)
    # Arguments win over the environment.
    assert distributed._explicit_config(None, None, 0) == ("10.0.0.2:1234", 4, 0)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SIGNX_COORDINATOR": "h:1"}, "missing num_processes"),
        (
            {"SIGNX_COORDINATOR": "h", "SIGNX_NUM_PROCESSES": "2", "SIGNX_PROCESS_ID": "0"},
            "host:port",
        ),
        (
            {"SIGNX_COORDINATOR": "h:1", "SIGNX_NUM_PROCESSES": "2", "SIGNX_PROCESS_ID": "2"},
            "outside",
        ),
        ({"SIGNX_NUM_PROCESSES": "two"}, "not an integer"),
        ({"SIGNX_DISTRIBUTED": "mpi"}, "SIGNX_DISTRIBUTED"),
        ({"SIGNX_DISTRIBUTED": "slurm"}, "SLURM_JOB_ID"),
        ({"SIGNX_DISTRIBUTED": "explicit"}, "no coordinator"),
    ],
)
def test_bad_configuration_is_a_clear_error(clean_env, env, message):
    for key, value in env.items():
        clean_env.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        distributed.initialize()


def test_slurm_needs_more_than_one_task_inside_srun(clean_env):
    slurm = {"SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "gpu[1-2]", "SLURM_PROCID": "0"}
    for key, value in slurm.items():
        clean_env.setenv(key, value)
    clean_env.setenv("SLURM_NTASKS", "1")
    assert distributed.detect_mode() == "none"
    clean_env.setenv("SLURM_NTASKS", "2")
    assert distributed.detect_mode() == "slurm"
    # Explicit variables (what slurm_gpu.sbatch exports) take precedence.
    clean_env.setenv("SIGNX_COORDINATOR", "gpu1:1234")
    clean_env.setenv("SIGNX_NUM_PROCESSES", "2")
    clean_env.setenv("SIGNX_PROCESS_ID", "0")
    assert distributed.detect_mode() == "explicit"


def test_tpu_environment_and_forced_modes(clean_env):
    clean_env.setenv("TPU_WORKER_ID", "1")
    assert distributed.on_tpu_host()
    assert distributed.detect_mode() == "tpu"
    clean_env.setenv("SIGNX_DISTRIBUTED", "none")
    assert distributed.detect_mode() == "none"


@pytest.fixture
def recorded_init(clean_env):
    """Replace jax.distributed.initialize by a recorder (nothing real is joined)."""
    import jax

    calls = []

    clean_env.setattr(jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    clean_env.setattr(jax.distributed, "is_initialized", lambda: False)
    return calls


def test_slurm_one_task_per_node_keeps_all_local_gpus(recorded_init, clean_env):
    env = {
        "SLURM_JOB_ID": "4096",
        "SLURM_STEP_NODELIST": "gpu[07-08]",
        "SLURM_NTASKS": "2",
        "SLURM_PROCID": "1",
        "SLURM_LOCALID": "0",
        "SLURM_STEP_NUM_NODES": "2",
    }
    for key, value in env.items():
        clean_env.setenv(key, value)
    distributed.initialize()
    # jax's own SLURM detection would pin the task to GPU $SLURM_LOCALID.
    assert recorded_init == [
        dict(
            coordinator_address="gpu07:61440",
            num_processes=2,
            process_id=1,
            cluster_detection_method="deactivate",
        )
    ]
    clean_env.setenv("SLURM_NTASKS", "16")  # one task per GPU: jax's detection is right
    distributed.initialize()
    assert recorded_init[1] == dict(cluster_detection_method="slurm")


def test_explicit_passes_local_device_ids(recorded_init, clean_env):
    clean_env.setenv("SIGNX_LOCAL_DEVICE_IDS", "1,3")
    distributed.initialize("h:5", 4, 2)
    assert recorded_init == [
        dict(coordinator_address="h:5", num_processes=4, process_id=2, local_device_ids=[1, 3])
    ]


def test_tpu_auto_falls_back_but_forced_raises(recorded_init, clean_env):
    import jax

    def failing(**kwargs):
        raise ValueError("coordinator_address should be defined.")

    clean_env.setattr(jax.distributed, "initialize", failing)
    clean_env.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-8")
    distributed.initialize()  # Colab-like single TPU host: continue alone
    clean_env.setenv("SIGNX_DISTRIBUTED", "tpu")
    with pytest.raises(RuntimeError, match="SIGNX_DISTRIBUTED=tpu"):
        distributed.initialize()
