"""Isolated recognition (stage 3, WLASL): pooled latent -> one class per clip.

* the loss is label-smoothed cross-entropy, checked against a hand computation;
* top-1 per-instance vs per-class (and top-k) accuracy on a hand-made example;
* a tiny classifier, trained by ``fit`` with ``configs/wlasl_isolated.py`` on
  latent shards where each class has its own mean pattern (plus per-clip and
  per-frame noise), reaches >= 90 % top-1 on held-out clips; the best-k
  checkpoints (lowest ``dev_top1_error``) are averaged and scored as
  ``main --steps evaluate`` does.
"""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from configs.wlasl_isolated import get_config
from signx_jax import checkpoint as ckpt_lib
from signx_jax import metrics
from signx_jax.data import shards
from signx_jax.data.vocab import Vocabulary
from signx_jax.evaluate import accuracy_and_report
from signx_jax.main import stage3_task
from signx_jax.train import faults, isolated
from signx_jax.train.fit import evaluate, fit
from signx_jax.train.isolated import IsolatedTask
from signx_jax.train.loop import Trainer
from tests.train.helpers import compile_cache


def _batch(labels, label_lengths, valid, t=4, dim=3):
    b = len(labels)
    return {
        "latent": jnp.zeros((b, t, dim)),
        "frame_mask": jnp.ones((b, t), bool),
        "labels": jnp.asarray(labels, jnp.int32)[:, None],
        "label_lengths": jnp.asarray(label_lengths, jnp.int32),
        "valid": jnp.asarray(valid, bool),
        "index": jnp.arange(b),
    }


def test_loss_matches_a_hand_computed_value():
    cfg = get_config("tiny")
    assert cfg.loss.label_smoothing == 0.1
    logits = jnp.asarray([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [9.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    # Row 3 is a padding row, row 4 has no label: neither counts.
    batch = _batch([0, 2, 1, 0], [1, 1, 1, 0], [True, True, False, True])
    model = lambda latent, mask, deterministic: logits  # noqa: E731
    loss, (m, _) = IsolatedTask(cfg, 3).loss_fn(model, {}, batch, 0)
    # Smoothed target: 1 - 0.1 + 0.1/3 on the class, 0.1/3 elsewhere.
    # CE = logsumexp(z) - sum_j q_j z_j.
    row1 = math.log(math.e**2 + 2) - (0.9 + 0.1 / 3) * 2.0  # 0.372878
    row2 = math.log(2 + math.e) - (0.1 / 3) * 1.0  # 1.518112
    assert float(loss) == pytest.approx((row1 + row2) / 2, rel=1e-5)
    assert float(loss) == pytest.approx(0.945495, abs=1e-5)
    assert float(m["train_top1"]) == pytest.approx(50.0)  # row 1 right, row 2 wrong


def test_top1_per_instance_vs_per_class():
    labels = [5, 5, 5, 6, 7]
    top2 = [[5, 6], [5, 7], [8, 5], [7, 6], [5, 6]]
    out = isolated.accuracy_summary(labels, top2, num_classes=9)
    # top-1 right on clips 1, 2: 2/5 = 40 %; per class: 5 -> 2/3, 6 -> 0, 7 -> 0.
    assert out["top1"] == pytest.approx(40.0)
    assert out["top1_per_class"] == pytest.approx(100 * (2 / 3) / 3)
    assert out["top1_error"] == pytest.approx(60.0)
    # top-2 right on clips 1-4: 80 %; per class: 5 -> 3/3, 6 -> 1/1, 7 -> 0/1.
    assert out["top2"] == pytest.approx(80.0)
    assert out["top2_per_class"] == pytest.approx(100 * 2 / 3)
    assert out["num_clips"] == 5
    ref = metrics.top1_accuracy(labels, [p[0] for p in top2], 9)
    assert (out["top1"], out["top1_per_class"]) == (ref["per_instance"], ref["per_class"])

    # The task's summary drops padding rows and clips without a label.
    task = IsolatedTask(get_config("tiny"), 9)
    outputs = [
        {"topk": np.asarray(top2[:3]), "target": np.asarray(labels[:3]),
         "mask": np.ones(3, bool), "index": np.arange(3)},
        {"topk": np.asarray(top2[3:] + [[0, 1]]), "target": np.asarray(labels[3:] + [0]),
         "mask": np.asarray([True, True, False]), "index": np.arange(3, 6)},
    ]  # fmt: skip
    vocab = Vocabulary(["A", "B", "C", "D"])  # ids 5..8 (after the 5 special tokens)
    records = [{"gloss": vocab.id_to_token(i)} for i in labels] + [{"gloss": "PAD-ROW"}]
    assert task.summarize_eval(outputs, vocab, source=records) == out
    assert task.summarize_eval([], vocab, source=records)["num_clips"] == 0


def test_an_out_of_vocabulary_reference_is_never_counted_correct():
    """A dev/test gloss missing from the train vocabulary has the label <unk>; the
    reference is the annotation text, so a <unk> (or any) prediction cannot match it."""
    from signx_jax import schema

    vocab = Vocabulary(["A", "B"])
    unk, a = schema.UNK_ID, vocab.token_to_id("A")
    records = [{"gloss": "ZEBRA"}, {"gloss": "ZEBRA"}, {"gloss": "A"}, {"gloss": "GIRAFFE"}]
    assert vocab.encode("ZEBRA GIRAFFE") == [unk, unk]
    outputs = [
        {"topk": np.asarray([[unk, a], [unk, a], [a, unk], [a, unk]]),
         "target": np.asarray([unk, unk, a, unk]), "mask": np.ones(4, bool),
         "index": np.arange(4)},
    ]  # fmt: skip
    out = IsolatedTask(get_config("tiny"), len(vocab)).summarize_eval(
        outputs, vocab, source=records
    )
    # Only clip 3 is right, at top-1 and top-2; per class: ZEBRA 0, A 1, GIRAFFE 0.
    assert out["top1"] == pytest.approx(25.0) and out["top2"] == pytest.approx(25.0)
    assert out["top1_per_class"] == pytest.approx(100 / 3)
    assert out["num_clips"] == 4


def test_config_selects_the_isolated_task():
    cfg = get_config(None)
    assert (cfg.stage, cfg.dataset, cfg.model.size) == ("cslr", "wlasl", "base")
    assert (cfg.data.task, cfg.data.max_label_len) == ("isolated", 1)
    assert cfg.train.best_metric == "dev_top1_error"
    for arg in (None, "tiny"):  # no unknown keys: the Trainer accepts it
        faults.validate_config(get_config(arg), device_count=8, process_count=1)
    vocab = Vocabulary(["A", "B", "C"])
    assert isinstance(stage3_task(cfg, vocab), IsolatedTask)
    assert stage3_task(cfg, vocab).num_classes == len(vocab) == 8
    cfg.data.task = "recognition"
    assert type(stage3_task(cfg, vocab)).__name__ == "CSLRTask"


# -- a tiny classifier learns a tiny isolated problem ---------------------------------------

CLASSES, DIM = 8, 16
SIZES = {"train": 256, "dev": 32, "test": 48}


def _records(split: str, means: np.ndarray, seed: int) -> list[dict]:
    """Clip of class c: its mean pattern + a per-clip offset + per-frame noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(SIZES[split]):
        c = i % CLASSES
        t = int(rng.integers(6, 31))
        z = means[c] + rng.normal(0, 0.5, DIM) + rng.normal(0, 1.5, (t, DIM))
        out.append({"clip_id": f"{split}{i}", "dataset": "wlasl", "signer": f"s{i % 5}",
                    "latent": z.astype(np.float32), "gloss": f"SIGN{c}",
                    "translation": ""})  # fmt: skip
    return out


@pytest.fixture(scope="module")
def latent_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("isolated_latents")
    means = np.random.default_rng(0).normal(0, 1, (CLASSES, DIM))
    for seed, split in enumerate(SIZES):
        shards.write_split(_records(split, means, seed + 1), str(d), split, pose_dtype="float16")
    vocab = Vocabulary.build([f"SIGN{c}" for c in range(CLASSES)])
    vocab.save(str(d / "vocab.json"))
    return d


def _tiny_config(latent_dir):
    cfg = get_config("tiny")
    cfg.model.latent_dim, cfg.model.isolated_hidden = DIM, 32
    cfg.data.latent_dir = str(latent_dir)
    cfg.data.update(batch_size=16, eval_batch_size=16, buckets=(32,))
    cfg.optim.update(grad_accum_steps=1, schedule="constant", lr=3e-3)
    cfg.train.update(total_steps=150, log_every=50, eval_every=50, keep_best=2)
    cfg.train.async_checkpoints = False
    cfg.mesh.update(data=1, fsdp=1, tensor=1)
    return cfg


def test_tiny_classifier_learns_a_synthetic_isolated_problem(latent_dir, tmp_path):
    cfg = _tiny_config(latent_dir)
    vocab = Vocabulary.load(str(latent_dir / "vocab.json"))
    task = stage3_task(cfg, vocab)
    workdir = tmp_path / "run"
    with compile_cache(tmp_path / "xla_cache"):
        train = shards.open_split(cfg.data.latent_dir, "train")
        dev = shards.open_split(cfg.data.latent_dir, "dev")
        untrained = evaluate(Trainer(cfg, task), dev, vocab)
        assert untrained["top1"] < 50.0, untrained  # chance is 12.5 %
        result = fit(cfg, task, train_source=train, dev_source=dev, vocab=vocab,
                     workdir=str(workdir))  # fmt: skip
        first, last = result.history[0], result.history[-1]
        assert last["l_ce"] < first["l_ce"]
        assert result.dev_metrics["top1"] >= 90.0, result.dev_metrics
        assert result.dev_metrics["num_clips"] == SIZES["dev"]

        # main --steps evaluate: the mean of the best-k by dev_top1_error, on dev and test.
        trainer = result.trainer
        steps = ckpt_lib.restore_released(trainer, str(workdir), cfg.train.keep_best)
        assert len(steps) == 2 and set(steps) <= {50, 100, 150}
        lat = {"video": {s: shards.open_split(cfg.data.latent_dir, s) for s in SIZES}}
        table = accuracy_and_report(trainer, lat, vocab, str(workdir / "report"), dataset="wlasl")
    saved = json.loads((workdir / "report" / "metrics.json").read_text())
    assert "video / test" in table and saved["chance_top1"] == pytest.approx(100 / 8)
    test = saved["metrics"]["video / test"]
    assert test["num_clips"] == SIZES["test"]
    assert test["top1"] >= 90.0 and test["top1_per_class"] >= 90.0, test
    assert test["top5"] >= test["top1"]
