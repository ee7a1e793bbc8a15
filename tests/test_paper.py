"""The paper's experiments (``python -m signx_jax.paper``): variants, stream zeroing,
fine-tuning from the released model, statistics, and Table 8 and Table 9's video route
end to end at tiny size on the tiny main-job run (``tests.runs.tiny_run``): commands,
tables, costs, resuming.

That end-to-end test checks no learning: from RGB nothing learns in a test's budget
(measured on the PHOENIX-2014T rehearsal with stage 2 at 300 updates and each method
at 300: test WER 116.7 latent, 88.9 pixel_cnn, 91.7 pixel_vit against the
most-frequent-sentence baseline's 88.9; the full-size runs are the README's Table 8).
Figure 4, Table 9 and Figure 6 learn on the pose route at tiny size:
``tests/test_recipes.py`` runs them on the PHOENIX-2014T rehearsal as their base.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import demo
from configs.common import cslr_variant
from signx_jax import checkpoint as ckpt_lib
from signx_jax import main, paper
from signx_jax.data.vocab import Vocabulary
from signx_jax.models.video2pose import zero_stream
from signx_jax.schema import POSE_DIM, stream_offsets
from signx_jax.train.fit import fit
from signx_jax.train.loop import Trainer
from tests.runs import REPO, one_device_env, tiny_run


def test_each_variant_switches_off_its_component():
    s3 = demo.get_config("tiny").stage3
    off = {
        "vac_baseline": ("use_transformer", "use_decoder", "use_distillation", "use_pruning"),
        "no_transformer": ("use_transformer", "use_decoder"),
        "no_pruning": ("use_pruning",),
        "no_distillation": ("use_distillation",),
        "no_feature_compilation": ("use_feature_compilation",),
    }
    for variant, keys in off.items():
        c = cslr_variant(s3, variant)
        assert all(not c.model[k] for k in keys), variant
        assert c.pruning.enabled == c.model.use_pruning
        assert c.decode.method == ("joint" if c.model.use_decoder else "ctc_beam")
        assert c.model.latent_dim == s3.model.latent_dim  # the cache's width, kept
    assert cslr_variant(s3, "single_scale_conv").model.conv_kernels == (5,)
    assert s3.model.use_transformer and s3.model.conv_kernels == (3, 5, 7)  # not touched
    with pytest.raises(ValueError, match="unknown CSLR variant"):
        cslr_variant(s3, "no_such_thing")


def test_zero_stream_zeroes_exactly_its_columns():
    poses = jnp.ones((2, 3, POSE_DIM))
    start, end = stream_offsets()["smplerx"]
    out = np.asarray(zero_stream(poses, "smplerx"))
    assert (out[..., start:end] == 0).all()
    assert out[..., :start].all() and out[..., end:].all()
    assert zero_stream(poses, None) is poses


def test_summary_and_table9_deltas():
    def run(wer_video, wer_pose):
        score = lambda w: {"wer": w, "bleu4": 100 - w}  # noqa: E731
        scores = {r: {s: score(w) for s in ("dev", "test")}
                  for r, w in (("video", wer_video), ("pose", wer_pose))}  # fmt: skip
        return {"scores": scores, "wall_s": 10.0}

    results = {"none": {0: run(20, 10), 1: run(22, 12)}, "dwpose": {0: run(30, 10), 1: run(34, 12)}}
    summary = paper.summarize(results)
    video = summary["dwpose"]["video"]["test"]["wer"]
    assert video["mean"] == 32 and video["worst"] == 34
    assert video["sd"] == pytest.approx(np.std([30, 34], ddof=1))
    assert video["per_seed"] == {0: 30, 1: 34}
    assert summary["dwpose"]["video"]["test"]["bleu4"]["worst"] == 66  # the lower BLEU
    table = paper.format_table("table9", summary)
    row = next(line for line in table.splitlines() if line.startswith("| dwpose"))
    assert "+11.00" in row and "+52.4 %" in row  # (32 - 21) / 21
    assert "+0.00" in next(line for line in table.splitlines() if line.startswith("| none"))


def test_fine_tuning_starts_from_the_released_model(tmp_path):
    run = tiny_run()
    cfg = demo.get_config("tiny")
    vocab = Vocabulary.load(os.path.join(run, "data", "vocab.json"))
    latents = main.open_latents(cfg, os.path.join(run, "latents"))
    task = main.stage3_task(cfg.stage3, vocab)
    released = Trainer(cfg.stage3, task)
    ckpt_lib.restore_released(released, os.path.join(run, "stage3"), cfg.keep_best)
    result = fit(cfg.stage3, task, train_source=latents["pose"]["train"], dev_source=None,
                 vocab=vocab, workdir=str(tmp_path / "ft"), max_steps=0,
                 init_from=(os.path.join(run, "stage3"), cfg.keep_best))  # fmt: skip
    state = result.trainer.state
    ours, theirs = (state.params, state.aux), (released.state.params, released.state.aux)
    same = jax.tree.map(lambda a, b: bool((np.asarray(a) == np.asarray(b)).all()), ours, theirs)
    assert all(jax.tree.leaves(same))
    assert int(state.step) == 0 and int(released.state.step) > 0  # the optimizer starts afresh
    assert all(float(jnp.abs(x).max()) == 0 for x in jax.tree.leaves(state.opt_state)
               if jnp.issubdtype(x.dtype, jnp.floating))  # fmt: skip


@pytest.mark.slow  # ~5 min: Table 8's three methods and Table 9's video route, tiny
def test_the_video_route_experiments_run_at_tiny_size(tmp_path):
    run, root = tiny_run(), tmp_path / "paper"
    (root / "base").mkdir(parents=True)
    for part in ("data", "latents", "stage1", "stage2", "stage3", "report"):
        os.symlink(os.path.join(run, part), root / "base" / part)  # read only
    env = one_device_env()  # the base run's checkpoints were written on 8 devices
    proc = subprocess.run(
        [sys.executable, "-m", "signx_jax.paper", "table9,table8", "--config",
         "configs/demo.py:tiny", "--workdir", str(root), "--seeds", "0",
         "--streams", "dwpose", "--stage3_steps", "10", "--config.routes=('video',)",
         "--finetune_steps", "4", "--config.stage3.decode.choose_on_dev=False",
         # one shape: one compile per program
         "--config.stage1.data.buckets=(160,)", "--config.stage3.data.buckets=(160,)",
         "--config.stage3.data.batch_size=8", "--config.stage3.data.eval_batch_size=8"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = {"table9": ["none", "dwpose"], "table8": ["latent", "pixel_cnn", "pixel_vit"]}
    for experiment, settings in expected.items():
        out = json.loads((root / f"{experiment}.json").read_text())
        assert list(out["summary"]) == settings, experiment
        for setting in settings:
            stats = out["summary"][setting]
            assert set(stats) - {"wall_s", "train_s"} == {"video"}
            wer = stats["video"]["test"]["wer"]
            assert 0 <= wer["mean"] <= 500 and wer["per_seed"] == {"0": wer["mean"]}
        assert (root / f"{experiment}.png").stat().st_size > 1000
        assert f"## {experiment}" in proc.stdout
        table = (root / f"{experiment}.md").read_text()
        assert all(f"| {s} |" in table for s in settings)
    assert proc.stdout.index("## table9") < proc.stdout.index("## table8")  # the list's order
    # Table 8's costs: measured per method; the pixel models carry their frame encoder,
    # the latent route Video2Pose and stage 1 besides the CSLR.
    costs = json.loads((root / "table8.json").read_text())["costs"]
    for cost in costs.values():
        assert cost["fps"] > 0 and cost["cpu_s_per_clip"] > 0 and cost["gflop_per_clip"] > 0
        assert cost["train_clips"] == 10 * 8  # --stage3_steps x the batch
    assert set(costs["latent"]["params"]) == {"cslr", "video2pose", "stage-1 encoder"}
    assert costs["latent"]["stages_1_2_s"] is None  # this base was not timed: "-" in the table
    assert costs["pixel_cnn"]["params"]["cslr"] > costs["pixel_vit"]["params"]["cslr"] > 0
    # Table 9 zeroed the stream on the way to a cache of its own, from the trained stages.
    manifest = root / "base" / "latents_zero_dwpose" / "video"
    assert any("zero_stream" in p.read_text() for p in manifest.glob("*manifest*"))
    # A rerun reuses every finished run (no training: it returns within a minute).
    again = subprocess.run(proc.args, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert again.returncode == 0 and "## table9" in again.stdout
