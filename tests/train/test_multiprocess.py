"""2 processes x 4 CPU devices (launch/local_multiprocess.sh, jax.distributed over
gloo on 127.0.0.1): train, checkpoint with orbax from both processes, then a second
launch restores and continues. Both processes must agree, steps must add up.

The two launches share a persistent compilation cache, so the second one loads
the train step the first compiled.
"""

import json
import os
import signal
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAUNCH = os.path.join(ROOT, "launch", "local_multiprocess.sh")
WORKER = os.path.join(ROOT, "tests", "train", "mp_worker.py")


def _launch(workdir, steps, tmp_path):
    env = dict(os.environ)
    env.update(
        SIGNX_LOCAL_DEVICES="4",
        SIGNX_LOG_DIR=str(tmp_path / f"logs-{steps}"),
        PYTHON=sys.executable,
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "xla_cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        PYTHONPATH=ROOT,
    )
    for key in ("SIGNX_COORDINATOR", "SIGNX_NUM_PROCESSES", "SIGNX_PROCESS_ID"):
        env.pop(key, None)
    cmd = [LAUNCH, "2", "--", sys.executable, WORKER, str(workdir), str(steps)]
    # Own session, so a timeout can stop the launcher and, through it, the workers.
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the launcher's TERM trap stops every worker's process group
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stdout[-4000:] + stderr[-4000:]
    results = []
    for i in range(2):
        with open(workdir / f"result-{i}.json") as f:
            results.append(json.load(f))
        os.remove(workdir / f"result-{i}.json")
    return results


def test_two_processes_train_checkpoint_and_resume(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    first = _launch(workdir, 3, tmp_path)
    for i, r in enumerate(first):
        assert r["process_index"] == i and r["process_count"] == 2
        assert r["device_count"] == 8
        assert r["mesh"] == {"data": 4, "fsdp": 2, "tensor": 1}
        assert r["step"] == r["state_step"] == 3
        assert len(r["losses"]) == 3
    steps_on_disk = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps_on_disk == [3]

    second = _launch(workdir, 6, tmp_path)
    for r in second:
        assert r["step"] == r["state_step"] == 6
        assert len(r["losses"]) == 3  # steps 4, 5, 6: resumed, not restarted
    assert 6 in [int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit()]
    # Both processes hold the same global state and saw the same global losses.
    for a, b in (first, second):
        assert a["losses"] == b["losses"]
        assert a["param_sum"] == b["param_sum"]
        assert a["param_abs_sum"] == b["param_abs_sum"]
    assert second[0]["param_abs_sum"] != first[0]["param_abs_sum"]  # training continued
