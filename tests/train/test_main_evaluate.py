"""``python -m signx_jax.main --steps evaluate`` re-scores a finished run, in a subprocess.

It scores the main job's tiny run (``tests.runs.tiny_run``) again, on the
splits of ``--splits``: the released checkpoint average must decode to the main
job's reported WERs, and ``--checkpoint N`` scores checkpoint N alone.
A 20-step model decodes almost nothing, so this checks the command (flags,
config, checkpoint averaging, decoding, report), not accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.runs import tiny_run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _evaluate(workdir, *flags) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
    proc = subprocess.run(
        [
            sys.executable, "-m", "signx_jax.main", "--config", "configs/demo.py:tiny",
            "--workdir", str(workdir), "--steps", "evaluate", *flags,
        ],  # fmt: skip
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scored stage-3 checkpoints" in proc.stderr, proc.stderr[-3000:]
    return json.loads((workdir / "report" / "metrics.json").read_text())["metrics"]


def test_evaluate_step_reproduces_the_main_jobs_scores(tmp_path):
    run = tiny_run()
    workdir = tmp_path / "run"
    workdir.mkdir()
    for part in ("data", "latents"):
        os.symlink(os.path.join(run, part), workdir / part)
    shutil.copytree(os.path.join(run, "stage3"), workdir / "stage3")
    main_job = json.loads(open(os.path.join(run, "report", "metrics.json")).read())["metrics"]

    rescored = _evaluate(workdir, "--splits", "dev,test")
    for split in ("dev", "test"):
        name = f"pose / {split} / joint"
        assert rescored[name]["wer"] == main_job[name]["wer"]
    assert (workdir / "report" / "pose" / "report.md").is_file()

    step = max(int(d) for d in os.listdir(workdir / "stage3" / "checkpoints") if d.isdigit())
    one = _evaluate(workdir, "--splits", "test", f"--checkpoint={step}")
    assert {name.split(" / ")[1] for name in one} == {"test"}
