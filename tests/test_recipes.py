"""Each dataset's recipe through the one orchestrator (``signx_jax/main.py``).

* every ``configs/<dataset>.py`` is valid and holds its dataset's three stage
  configs unchanged (so the recipe is the README's per-stage commands in one job);
* the dress rehearsal, for every dataset (PHOENIX-2014T, PHOENIX-2014, CSL-Daily,
  WLASL, ASLLRP): its recipe, its own configs with only size and step-count
  overrides (gradient accumulation 2 in stages 1 and 3), on the synthetic corpus
  written in the publisher's layout and converted from there, learns: the pose
  route's test WER is far below the most-frequent-sentence baseline (WLASL,
  isolated: top-1 far above chance, and ``--steps evaluate`` alone, from what
  the run left in the work dir, prints the same table). Each recipe runs in a
  child process on one CPU device (``rehearse``); the checks read what it wrote
  (``check_rehearsal``). PHOENIX-2014T's rehearsal is also the base of the paper's
  pose-route experiments (``signx_jax/paper.py``), which must learn on it too.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import pipeline, synthetic_corpus
from data_pipelines.datasets.convert import DATASETS
from data_pipelines.synthetic import grammar
from signx_jax import checkpoint as ckpt_lib
from signx_jax import main as signx_main
from signx_jax import paper
from signx_jax.data.vocab import Vocabulary
from signx_jax.train import tasks
from tests.runs import REPO, one_device_env


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


# The rehearsal, sized for 2 CPU cores: stage-1 and stage-3 updates of each dataset.
UPDATES = {
    "phoenix2014t": (100, 150),
    "phoenix2014": (100, 150),
    "csl_daily": (100, 150),
    "asllrp": (100, 150),
    "wlasl": (100, 100),
}
CLIPS = {"train": 120, "dev": 16, "test": 16}
GLOSSES = 12  # the text side's vocabulary (chance top-1 on WLASL: 1/12)


def write_text_side(folder, *, isolated: bool) -> str:
    """Train / dev / test STM files of a small text side (``GLOSSES`` glosses of the
    built-in grammar; 2-3 per sentence, or one per clip when ``isolated``): the
    corpus ``glosses`` spec that reads them."""
    rng = np.random.default_rng(0)
    vocab = grammar.builtin_vocabulary()[:GLOSSES]
    spec = []
    for split, count in CLIPS.items():
        rows = []
        for i in range(count):
            if isolated:  # every class as often as the others
                glosses = [vocab[i % GLOSSES]]
            else:
                glosses = list(rng.choice(vocab, size=int(rng.integers(2, 4))))
            rows.append(f"{split}_{i:04d} 1 signer 0.0 1.0 {' '.join(glosses)}")
        path = os.path.join(folder, f"{split}.stm")
        with open(path, "w") as f:
            f.write("\n".join(rows) + "\n")
        spec.append(f"{split}={path}")
    return ",".join(spec)


def rehearsal_config(dataset: str, folder: str, updates: tuple[int, int] | None = None):
    """configs/<dataset>.py:tiny, the rehearsal source, with only size and step-count
    overrides (gradient accumulation 2 in stages 1 and 3) to fit 2 CPU cores: a small
    text side (``write_text_side``) signed at twice the tiny corpus's pace."""
    cfg = importlib.import_module(f"configs.{dataset}").get_config("tiny")
    cfg.data.source = "rehearsal"
    tiny = synthetic_corpus.get_config("tiny")
    c = cfg.corpus
    c.num_workers, c.progress = tiny.num_workers, False
    c.glosses = write_text_side(folder, isolated=c.max_sentence_glosses == 1)
    c.num_signers = {"train": 8, "dev": 1, "test": 1}
    c.num_train, c.num_dev, c.num_test = CLIPS["train"], CLIPS["dev"], CLIPS["test"]
    c.min_sign_frames, c.max_sign_frames = 4, 10
    c.min_transition_frames, c.max_transition_frames = 2, 3
    c.min_rest_frames, c.max_rest_frames, c.rest_transition_frames = 1, 2, 4
    cfg.routes = ("pose",)  # the route that learns in minutes; stage 2 has its own tests
    for key, total in zip(("stage1", "stage3"), updates or UPDATES[dataset], strict=True):
        s = cfg[key]
        s.train.total_steps, s.train.log_every = total, max(total // 2, 1)
        s.train.eval_every = s.train.checkpoint_every = max(total // 2, 1)
        s.optim.grad_accum_steps = 2
        s.data.batch_size, s.data.eval_batch_size = 8, 16
        s.data.buckets = (64,)  # every clip (up to ~50 frames): one shape, one compile
        s.data.max_label_len = min(s.data.max_label_len, 3)
        s.data.read_threads, s.data.prefetch_batches = 1, 2
    cfg.stage1.optim.lr = 2e-3
    cfg.stage1.decode.method = "greedy"
    cfg.stage3.data.num_views = 2
    cfg.stage3.optim.noam_warmup = 30  # both stage 3s: the CSLR's and WLASL's classifier
    if "pruning" in cfg.stage3:  # CSLR (not WLASL's isolated classifier)
        cfg.stage3.pruning.every, cfg.stage3.pruning.start = 30, 60
    cfg.keep_best = 2
    return cfg


# A train annotation file of each publisher layout (README, the --root layouts).
ANNOTATIONS = {
    "phoenix2014t": "PHOENIX-2014-T/annotations/manual/PHOENIX-2014-T.train.corpus.csv",
    "phoenix2014": "phoenix-2014-multisigner/annotations/manual/train.corpus.csv",
    "csl_daily": "sentence_label/video_map.txt",
    "wlasl": "WLASL_v0.3.json",
    "asllrp": "xml_extract_train.xml",
}


@pytest.fixture(scope="module")
def xla_cache(tmp_path_factory):
    """One persistent XLA compilation cache for the rehearsals: a program is compiled
    once when two datasets' recipes build the same one (the same tiny models on the
    same text side); what runs is still each dataset's own recipe."""
    return tmp_path_factory.mktemp("xla_cache")


# The paper's pose-route experiments on PHOENIX-2014T's rehearsal: enough updates for
# each model to learn (signx_jax/paper.py; Table 8 and the video route: tests/test_paper.py).
PAPER = dict(experiments=("figure4", "table9", "figure6"), seeds_=[0],
             variants=["vac_baseline"], streams=["dwpose"], temperatures=[0.3],
             stage3_steps=150, finetune_steps=30)  # fmt: skip


def rehearse(dataset: str, folder: str) -> dict:
    """What the test's child process runs (``python -m tests.test_recipes``, on one
    CPU device: ``tests.runs.one_device_env``): the dataset's whole recipe, and for
    WLASL ``--steps evaluate`` alone; returns the tables they printed. PHOENIX-2014T's
    recipe runs as the base of the paper's experiments (``PAPER``) in ``<folder>/paper``."""
    cfg, workdir = rehearsal_config(dataset, folder), os.path.join(folder, "run")
    if dataset == "phoenix2014t":  # the recipe is the experiments' base: <root>/base
        kwargs = dict(PAPER)
        paper.run(kwargs.pop("experiments"), cfg, os.path.join(folder, "paper"), **kwargs)
        return {}
    table = signx_main.run(cfg, workdir)
    again = signx_main.run(cfg, workdir, ["evaluate"]) if dataset == "wlasl" else None
    return {"table": table, "again": again}


def run_child(dataset: str, folder, xla_cache) -> dict:
    """``rehearse(dataset, folder)`` in a child process on one CPU device; its tables."""
    env = one_device_env(JAX_COMPILATION_CACHE_DIR=str(xla_cache),
                         JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")  # fmt: skip
    child = [sys.executable, "-m", "tests.test_recipes", dataset, str(folder)]
    proc = subprocess.run(child, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((folder / "tables.json").read_text())


@pytest.mark.slow  # first in the file: the recipes below reuse its compiles
def test_phoenix2014t_recipe_and_the_papers_pose_route_experiments_learn(tmp_path, xla_cache):
    """PHOENIX-2014T's rehearsal is the base of the paper's Figure 4 (``vac_baseline``),
    Table 9 (a stream absent from the poses, the released CSLR fine-tuned) and Figure 6
    (stage 1 retrained at a temperature): the recipe learns, and so does each
    experiment's model, 25 points below the most-frequent-sentence baseline."""
    run_child("phoenix2014t", tmp_path, xla_cache)
    root, cfg = tmp_path / "paper", rehearsal_config("phoenix2014t", str(tmp_path))
    check_rehearsal("phoenix2014t", cfg, str(root / "base"))
    report = json.loads((root / "base" / "report" / "metrics.json").read_text())
    prior = report["baselines"]["most frequent train sentence / test"]["wer"]
    expected = {"figure4": ["vac_baseline"], "table9": ["none", "dwpose"], "figure6": ["0.3"]}
    for experiment, settings in expected.items():
        summary = json.loads((root / f"{experiment}.json").read_text())["summary"]
        assert list(summary) == settings, experiment
        for setting in settings:
            assert set(summary[setting]) - {"wall_s", "train_s"} == {"pose"}
            wer = summary[setting]["pose"]["test"]["wer"]["mean"]
            assert wer < prior - 25.0, (experiment, setting, wer, prior)
        assert (root / f"{experiment}.png").stat().st_size > 1000
        assert all(f"| {s} |" in (root / f"{experiment}.md").read_text() for s in settings)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", [d for d in DATASETS if d != "phoenix2014t"])  # (above)
def test_recipe_learns_on_the_rehearsal_layout(dataset, tmp_path, xla_cache):
    tables = run_child(dataset, tmp_path, xla_cache)
    cfg, workdir = rehearsal_config(dataset, str(tmp_path)), str(tmp_path / "run")
    check_rehearsal(dataset, cfg, workdir)
    if dataset == "wlasl":  # --steps evaluate alone: the released model, the same table
        # (the CSLR report's twin is tests/train/test_main_evaluate.py, on the tiny run).
        assert tables["again"] == tables["table"]


def check_rehearsal(dataset: str, cfg, workdir: str) -> None:
    """What a finished rehearsal of ``dataset``'s recipe in ``workdir`` must show: the
    publisher's files written and converted, learning (``assert_learned``), and
    checkpoints numbered in optimizer updates (2 micro-batches each)."""
    assert os.path.isfile(os.path.join(workdir, "download", ANNOTATIONS[dataset]))
    assert_learned(cfg, workdir)
    for key in ("stage1", "stage3"):  # checkpoints are numbered in optimizer updates
        ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, key, "checkpoints"), read_only=True)
        assert ckpt.latest_step() == cfg[key].train.total_steps, key
        ckpt.close()
    vocab = Vocabulary.load(os.path.join(workdir, "data", "vocab.json"))
    stage1 = signx_main.restored(cfg.stage1, tasks.Pose2GlossTask(cfg.stage1, len(vocab)),
                                 os.path.join(workdir, "stage1"), hint="")  # fmt: skip
    micro = int(jax.device_get(stage1.state.step))
    assert micro == 2 * cfg.stage1.train.total_steps  # 2 micro-batches per update


def assert_learned(cfg, workdir: str) -> None:
    """The released model reads the signing: test WER far below the most-frequent-
    sentence baseline (WLASL, isolated: top-1 far above chance and that baseline)."""
    with open(os.path.join(workdir, "report", "metrics.json")) as f:
        report = json.load(f)
    if cfg.dataset == "wlasl":
        model = report["metrics"]["pose / test"]["top1"]
        prior = report["baselines"]["most frequent train gloss / test"]["top1"]
        chance = report["chance_top1"]
        assert chance < 10.0 and prior < 20.0, (chance, prior)
        assert model > max(prior, chance) + 30.0, (model, prior, chance)
        return
    model = report["metrics"]["pose / test / joint"]["wer"]
    prior = report["baselines"]["most frequent train sentence / test"]["wer"]
    assert prior > 80.0, prior
    assert model < prior - 25.0, (model, prior)
    # The decoder chosen on dev (recorded beside the released model) is never worse
    # there than CTC greedy.
    rows, chosen = report["metrics"], report["decoding"]["pose"]
    assert rows["pose / dev / dev-chosen"]["wer"] == chosen["dev_wer"]
    assert chosen["dev_wer"] <= rows["pose / dev / ctc_greedy"]["wer"]
    with open(os.path.join(workdir, "stage3", "decoding.json")) as f:
        assert json.load(f)["routes"]["pose"] == chosen


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


if __name__ == "__main__":  # the child of test_recipe_learns_on_the_rehearsal_layout
    _dataset, _folder = sys.argv[1:3]
    with open(os.path.join(_folder, "tables.json"), "w") as _f:
        json.dump(rehearse(_dataset, _folder), _f)
