"""``python -m signx_jax.train.main --mode evaluate`` end to end, in a subprocess.

It scores the main job's tiny run (``tests.runs.tiny_run``) from the stage-3
config alone: it must release a checkpoint average, decode with the
configured joint decoder and reach the main job's reported WER.
A 20-step model decodes almost nothing, so this checks the command (flags,
config, checkpoint averaging, decoding, report), not accuracy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

from tests.runs import tiny_run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """
from configs import demo


def get_config(arg=None):
    return demo.get_config("tiny").stage3
"""


def test_evaluate_mode_reproduces_the_main_jobs_scores(tmp_path):
    run = tiny_run()
    workdir = tmp_path / "stage3"
    shutil.copytree(os.path.join(run, "stage3"), workdir)
    (tmp_path / "stage3_config.py").write_text(CONFIG)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
    proc = subprocess.run(
        [
            sys.executable, "-m", "signx_jax.train.main", "--mode", "evaluate",
            "--config", str(tmp_path / "stage3_config.py"), "--workdir", str(workdir),
            f"--config.data.latent_dir={run}/latents/pose", f"--config.data.data_dir={run}/data",
            "--splits", "dev,test",
        ],  # fmt: skip
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    main_job = json.loads(open(os.path.join(run, "report", "metrics.json")).read())["metrics"]
    assert re.search(r"checkpoints \[[\d, ]+\], decoding joint", proc.stdout), proc.stdout
    for split in ("dev", "test"):
        row = re.search(rf"^\| {split} \| ([\d.]+) \|", proc.stdout, re.M)
        assert row, proc.stdout
        assert float(row.group(1)) == round(main_job[f"pose / {split} / joint"]["wer"], 2)
    assert (workdir / "report" / "report.md").is_file()
