"""Each dataset's recipe through the one orchestrator (``signx_jax/main.py``).

* every ``configs/<dataset>.py`` is valid and holds its dataset's three stage
  configs unchanged (so the recipe is the README's per-stage commands in one job);
* the dress rehearsal: PHOENIX-2014T's recipe, its own configs with only size and
  step-count overrides (gradient accumulation 2 in stages 1 and 3), on the synthetic
  corpus written in the publisher's layout and converted from there, learns: the
  pose route's test WER is far below the most-frequent-sentence baseline; then
  ``--steps evaluate`` alone, from what the run left in the work dir, prints the
  same table.
"""

from __future__ import annotations

import importlib
import json
import os

import jax
import pytest

from configs import pipeline, synthetic_corpus
from data_pipelines.datasets.convert import DATASETS
from signx_jax import checkpoint as ckpt_lib
from signx_jax import main as signx_main
from signx_jax.data.vocab import Vocabulary
from signx_jax.train import tasks


@pytest.mark.parametrize("dataset", DATASETS)
def test_dataset_recipe_is_its_stage_configs(dataset):
    cfg = importlib.import_module(f"configs.{dataset}").get_config("tiny")
    cfg.data.root = "/data/somewhere"
    assert signx_main.config_problems(cfg) == []
    stages = pipeline.stage_configs(dataset)
    assert stages["stage3"] == ("isolated" if dataset == "wlasl" else "cslr")
    for key, stage in stages.items():
        alone = importlib.import_module(f"configs.{dataset}_{stage}").get_config("tiny")
        assert cfg[key].to_dict() == alone.to_dict(), key
    assert cfg.stage2.stage1_model.to_dict() == cfg.stage1.model.to_dict()
    cfg.data.root = ""
    assert any("data.root" in p for p in signx_main.config_problems(cfg))
    assert signx_main.config_problems(cfg, steps=["stage3"]) == []  # no data step, no root


def rehearsal_config():
    """configs/phoenix2014t.py:tiny, the rehearsal source, sized for 2 CPU cores."""
    cfg = importlib.import_module("configs.phoenix2014t").get_config("tiny")
    cfg.data.source = "rehearsal"
    tiny = synthetic_corpus.get_config("tiny")
    cfg.corpus.num_workers, cfg.corpus.progress = tiny.num_workers, False
    cfg.corpus.num_signers = {"train": 12, "dev": 1, "test": 1}
    cfg.corpus.num_train, cfg.corpus.num_dev, cfg.corpus.num_test = 240, 24, 24
    cfg.corpus.max_sentence_glosses = 4
    cfg.routes = ("pose",)  # the route that learns in minutes; stage 2 has its own tests
    for key, updates in (("stage1", 400), ("stage3", 800)):
        c = cfg[key]
        c.train.total_steps, c.train.log_every = updates, 100
        c.train.eval_every = c.train.checkpoint_every = updates // 2
        c.optim.grad_accum_steps = 2
        c.data.batch_size, c.data.eval_batch_size = 8, 24
        c.data.buckets, c.data.max_label_len = (64, 128), 8
        c.data.read_threads, c.data.prefetch_batches = 1, 2
    cfg.stage1.optim.lr = 2e-3
    cfg.stage1.decode.method = "greedy"
    cfg.stage3.data.num_views = 2
    cfg.stage3.optim.noam_warmup = 50
    cfg.stage3.pruning.every, cfg.stage3.pruning.start = 50, 100
    cfg.keep_best = 2
    return cfg


@pytest.mark.slow
def test_phoenix2014t_recipe_learns_on_the_rehearsal_layout(tmp_path):
    cfg, workdir = rehearsal_config(), str(tmp_path / "run")
    table = signx_main.run(cfg, workdir)
    csv = "PHOENIX-2014-T/annotations/manual/PHOENIX-2014-T.train.corpus.csv"
    assert os.path.isfile(os.path.join(workdir, "download", csv))
    for key in ("stage1", "stage3"):  # checkpoints are numbered in optimizer updates
        ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, key, "checkpoints"), read_only=True)
        assert ckpt.latest_step() == cfg[key].train.total_steps, key
        ckpt.close()
    vocab = Vocabulary.load(os.path.join(workdir, "data", "vocab.json"))
    stage1 = signx_main.restored(cfg.stage1, tasks.Pose2GlossTask(cfg.stage1, len(vocab)),
                                 os.path.join(workdir, "stage1"), hint="")  # fmt: skip
    micro = int(jax.device_get(stage1.state.step))
    assert micro == 2 * cfg.stage1.train.total_steps  # 2 micro-batches per update
    with open(os.path.join(workdir, "report", "metrics.json")) as f:
        report = json.load(f)
    model = report["metrics"]["pose / test / joint"]["wer"]
    prior = report["baselines"]["most frequent train sentence / test"]["wer"]
    assert prior > 90.0, prior
    assert model < prior - 20.0, (model, prior)
    # --steps evaluate alone: the released model from the work dir, the same table.
    assert signx_main.run(cfg, workdir, ["evaluate"]) == table


def test_steps_name_what_is_missing(tmp_path):
    from configs import demo
    from signx_jax import cli
    from signx_jax.train import faults

    cfg = demo.get_config("tiny")
    with pytest.raises(cli.UsageError, match="run --steps data first"):
        signx_main.run(cfg, str(tmp_path), ["stage3"])
    with pytest.raises(faults.ConfigError, match="unknown step 'evaluat'"):
        signx_main.run(cfg, str(tmp_path), ["evaluat"])
    assert not os.path.exists(tmp_path / "data")
