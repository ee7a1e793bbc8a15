"""``python -m signx_jax.main`` on a finished run's latents, in a subprocess.

``--steps evaluate`` scores the main job's tiny run (``tests.runs.tiny_run``)
again, on the splits of ``--splits``: the released checkpoint average must decode
to the main job's reported WERs, and ``--checkpoint N`` scores checkpoint N alone.
``--stage3_config`` trains Sign2Text as stage 3 on the same latents.
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


def _main(workdir, *flags, report="report") -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
    proc = subprocess.run(
        [
            sys.executable, "-m", "signx_jax.main", "--config", "configs/demo.py:tiny",
            "--workdir", str(workdir), *flags,
        ],  # fmt: skip
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((workdir / report / "metrics.json").read_text())["metrics"]


def _workdir(tmp_path, *parts):
    """A work dir with the tiny run's data and latents (read only) and copies of ``parts``."""
    run, workdir = tiny_run(), tmp_path / "run"
    workdir.mkdir()
    for part in ("data", "latents"):
        os.symlink(os.path.join(run, part), workdir / part)
    for part in parts:
        shutil.copytree(os.path.join(run, part), workdir / part)
    return run, workdir


def test_evaluate_step_reproduces_the_main_jobs_scores(tmp_path):
    run, workdir = _workdir(tmp_path, "stage3")
    main_job = json.loads(open(os.path.join(run, "report", "metrics.json")).read())["metrics"]

    rescored = _main(workdir, "--steps", "evaluate", "--splits", "dev,test")
    for split in ("dev", "test"):
        name = f"pose / {split} / joint"
        assert rescored[name]["wer"] == main_job[name]["wer"]
    assert (workdir / "report" / "pose" / "report.md").is_file()

    step = max(int(d) for d in os.listdir(workdir / "stage3" / "checkpoints") if d.isdigit())
    one = _main(workdir, "--steps", "evaluate", "--splits", "test", f"--checkpoint={step}")
    assert {name.split(" / ")[1] for name in one} == {"test"}


def test_stage3_config_trains_sign2text_on_the_runs_latents(tmp_path):
    _, workdir = _workdir(tmp_path)
    overrides = dict(total_steps=2, eval_every=2, checkpoint_every=2, log_every=1)
    flags = [f"--stage3_config.train.{k}={v}" for k, v in overrides.items()] + [
        "--stage3_config.data.batch_size=8", "--stage3_config.data.eval_batch_size=8",
        "--stage3_config.data.target_level=char", "--stage3_config.optim.grad_accum_steps=1",
    ]  # fmt: skip
    scores = _main(
        workdir, "--stage3_config", "configs/synthetic_translation.py", *flags,
        "--steps", "stage3,evaluate", report="report_translation",
    )  # fmt: skip
    assert set(scores) == {f"{r} / {s}" for r in ("pose", "video") for s in ("dev", "test")}
    assert all("bleu4" in m and "rouge_l" in m for m in scores.values())
    assert (workdir / "stage3_translation" / "target_vocab.json").is_file()
    assert not (workdir / "stage3").exists()  # the recipe's own stage 3 is left alone
