"""Issue 9, training side: preemption signals, kill -9 at any moment, NaN/Inf.

Each test launches ``worker.py`` processes (``fit()`` on a tiny latent split).
They share one persistent JAX compilation cache, so only the first process of
a session compiles the train step; the rest load it. The uninterrupted
reference run is computed once per session (once across xdist workers).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal

import numpy as np
import pytest

from tests.reliability import helpers

TOTAL = 12  # steps; checkpoints every 4


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    """A directory shared by all xdist workers of this session (data + cache)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "reliability"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "data" / "vocab.json").exists():
            # Record 2 holds NaN/Inf latents: the default policy masks them.
            helpers.write_latent_dataset(root / "data", nan_records=(2,))
    return root


@pytest.fixture(scope="session")
def reference(shared):
    """(per-step digests, final state .npz) of an uninterrupted run."""
    result = shared / "reference.json"
    with open(shared / ".ref.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            spec = _spec(shared, shared / "ref_workdir", out=str(shared / "reference.npz"))
            code, lines, err = helpers.run_worker(spec, shared / "cache")
            assert code == 0, err[-3000:]
            done = [ln.split() for ln in lines if ln.startswith("DONE")]
            assert done and done[0][1:4] == ["done", str(TOTAL), "0"], lines[-3:]
            assert int(done[0][4]) > 0, "the NaN record was never masked"
            result.write_text(json.dumps(dict(helpers.steps_of(lines))))
    digests = {int(k): v for k, v in json.loads(result.read_text()).items()}
    return digests, shared / "reference.npz"


def _spec(shared, workdir, **hooks) -> dict:
    return {"workdir": str(workdir), "data_dir": str(shared / "data"), "total_steps": TOTAL,
            **hooks}  # fmt: skip


def _assert_same_state(npz_a, npz_b):
    a, b = np.load(npz_a), np.load(npz_b)
    assert len(a.files) == len(b.files) > 0
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"state leaf {key} differs")


def _check_steps(lines, digests, start):
    """Steps continue from ``start`` and match the reference bit for bit."""
    steps = helpers.steps_of(lines)
    assert steps, "the worker took no step"
    assert steps[0][0] == start + 1, f"resumed at {steps[0][0] - 1}, expected {start}"
    for step, digest in steps:
        assert digest == digests[step], f"params after step {step} differ from the reference"
    return steps[-1][0]


def test_kill9_anywhere_resumes_to_the_same_parameters(shared, reference, tmp_path):
    digests, ref_npz = reference
    workdir = tmp_path / "run"
    cache = shared / "cache"
    kill_points = [
        ({"kill_after_step": 3}, "before the first checkpoint"),
        ({"kill_in_finalize": 4}, "checkpoint 4 written, not yet renamed"),
        ({"kill_after_step": 6}, "while checkpoint 4 may still be in flight"),
        ({"kill_in_item_finalize": 8}, "while the items of checkpoint 8 commit"),
        ({"kill_after_step": 10}, "between checkpoints"),
    ]
    for hook, what in kill_points:
        start = max(helpers.complete_steps(workdir), default=0)
        code, lines, err = helpers.run_worker(_spec(shared, workdir, **hook), cache)
        assert code == -signal.SIGKILL, f"{what}: exit {code}\n{err[-2000:]}"
        _check_steps(lines, digests, start)
        if "kill_in_finalize" in hook:
            leftovers = os.listdir(workdir / "checkpoints")
            assert any(n.startswith("4.orbax-checkpoint-tmp") for n in leftovers), leftovers
            assert 4 not in helpers.complete_steps(workdir), "a partial checkpoint was committed"
    start = max(helpers.complete_steps(workdir), default=0)
    out = tmp_path / "final.npz"
    code, lines, err = helpers.run_worker(_spec(shared, workdir, out=str(out)), cache)
    assert code == 0, err[-3000:]
    assert _check_steps(lines, digests, start) == TOTAL
    _assert_same_state(out, ref_npz)


def _signal_after(spec, cache, sig, after_step):
    """Launch, send ``sig`` once step ``after_step`` is logged, wait for exit."""
    proc = helpers.start_worker(spec, cache)
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith(f"STEP {after_step} "):
            proc.send_signal(sig)
    err = proc.stderr.read()
    return proc.wait(timeout=300), lines, err


@pytest.mark.parametrize(
    "sig, at_step",
    [(signal.SIGTERM, None), (signal.SIGINT, 4)],
    ids=["SIGTERM-from-outside", "SIGINT-at-a-checkpoint-step"],
)
def test_preemption_signal_saves_exits_0_and_resumes(shared, reference, tmp_path, sig, at_step):
    digests, ref_npz = reference
    workdir, cache = tmp_path / "run", shared / "cache"
    if at_step is None:  # the test signals once step 2 is logged
        spec = _spec(shared, workdir, sleep_per_step=0.5)  # time to signal mid-run
        code, lines, err = _signal_after(spec, cache, sig, after_step=2)
    else:  # the step that also saves by schedule: one save, not two (orbax refuses)
        spec = _spec(shared, workdir, signal_after_step=[at_step, int(sig)])
        code, lines, err = helpers.run_worker(spec, cache)
    assert code == 0, err[-3000:]
    done = [ln.split() for ln in lines if ln.startswith("DONE")]
    assert done and done[0][1] == "preempted", lines[-3:]
    stopped = int(done[0][2])
    assert 2 <= stopped < TOTAL and stopped == (at_step or stopped)
    assert _check_steps(lines, digests, 0) == stopped  # finished the step it was in
    assert max(helpers.complete_steps(workdir)) == stopped, "state not saved at the stop"
    out = tmp_path / "final.npz"
    code, lines, err = helpers.run_worker(_spec(shared, workdir, out=str(out)), cache)
    assert code == 0, err[-3000:]
    assert _check_steps(lines, digests, stopped) == TOTAL
    _assert_same_state(out, ref_npz)


def test_nonfinite_updates_are_skipped_then_training_stops(shared, tmp_path):
    # NaN loss at micro-step 2 (skipped, and a fresh batch takes its place),
    # then at 5, 6, 7: the third in a row stops. STEP lines count micro-steps.
    spec = _spec(shared, tmp_path / "run", nan_steps=[2, 5, 6, 7],
                 config={"train.max_nonfinite_streak": 3})  # fmt: skip
    code, lines, err = helpers.run_worker(spec, shared / "cache")
    assert code == 3, err[-3000:]
    digests = dict(helpers.steps_of(lines))
    assert sorted(digests) == list(range(1, 9))
    assert digests[3] == digests[2] != digests[1]  # the NaN update left params alone
    assert digests[4] != digests[3]  # and training went on
    assert digests[6] == digests[7] == digests[8] == digests[5]
    # Micro-steps 0, 1, 3, 4 were updates: update 4 saved by schedule, and
    # the last good parameters are already in it, so stopping adds no save.
    assert "3 consecutive non-finite micro-steps after step 4" in err
    assert "last good state saved" in err
    diverged = [ln.split() for ln in lines if ln.startswith("DIVERGED")]
    assert diverged and diverged[0][1:] == ["4", digests[5], "1"], lines[-2:]


def test_nonfinite_inputs_error_policy_names_the_record(shared, tmp_path):
    spec = _spec(shared, tmp_path / "run", config={"data.nonfinite_inputs": "error"})
    code, lines, err = helpers.run_worker(spec, shared / "cache")
    assert code != 0
    assert "NonFiniteInputError" in err and "'latent' of record(s) [2]" in err, err[-2000:]
    assert "nonfinite_inputs=mask" in err
