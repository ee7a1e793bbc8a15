"""A tiny CSLR really learns a tiny synthetic corpus (issue 4, "Done when").

The corpus is the embedded generator (README "Design") on a 6-gloss text side
(sentences of 2-4 glosses written as STM files), with disjoint train / dev /
test signers. Latents are built cheaply instead of by stages 1-2: DWPose body
and hand keypoints relative to the neck, standardised with train statistics,
through a fixed random projection to 32 dims. The CSLR is the micro config of
tests/train/helpers.py (feature compilation, pruning, conv + BiLSTM + CTC).
Untrained, its dev WER is near 100 %; after a few hundred steps of ``fit`` it is
below 20 % on dev and test.
"""

import numpy as np
import pytest

from configs.synthetic_corpus import get_config as corpus_config
from data_pipelines.synthetic import generate_split
from signx_jax.data.vocab import Vocabulary
from signx_jax.evaluate import decode_split, score
from signx_jax.train import tasks
from signx_jax.train.fit import evaluate, fit
from signx_jax.train.loop import Trainer
from tests.train.helpers import compile_cache, micro_cslr_config

GLOSSES = ("BOOK", "GO", "WANT", "HOUSE", "EAT", "DOG")
SIZES = {"train": 96, "dev": 16, "test": 16}
LATENT_DIM, STEPS = 32, 400


def _write_stm(path, n, seed):
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i in range(n):
            glosses = " ".join(rng.choice(GLOSSES, int(rng.integers(2, 5))))
            f.write(f"clip{seed}_{i} 1 signer 0.0 1.0 {glosses}\n")


def _keypoints(clip) -> np.ndarray:
    dw = clip["poses"]["dwpose"].reshape(len(clip["presence"]), 128, 3)[:, :60, :2]
    return (dw - dw[:, 1:2]).reshape(len(dw), -1)  # body + hands, neck-relative (x, y)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("stm")
    for seed, (split, n) in enumerate(SIZES.items()):
        _write_stm(d / f"{split}.stm", n, seed)
    cfg = corpus_config("tiny")
    cfg.rgb = False
    cfg.glosses = ",".join(f"{s}={d / s}.stm" for s in SIZES)
    cfg.num_train = cfg.num_dev = cfg.num_test = -1
    clips = {split: list(generate_split(cfg, split)) for split in SIZES}
    assert {s: len(c) for s, c in clips.items()} == SIZES
    signers = {s: {c["signer"] for c in cs} for s, cs in clips.items()}
    assert not signers["train"] & (signers["dev"] | signers["test"])  # unseen signers

    train_frames = np.concatenate([_keypoints(c) for c in clips["train"]])
    mean, std = train_frames.mean(0), train_frames.std(0) + 1e-3
    rng = np.random.default_rng(0)
    proj = rng.normal(size=(train_frames.shape[1], LATENT_DIM)) / np.sqrt(train_frames.shape[1])

    def latent(clip):
        z = ((_keypoints(clip) - mean) / std) @ proj
        return {"clip_id": clip["clip_id"], "dataset": "synthetic", "signer": clip["signer"],
                "latent": z.astype(np.float32), "gloss": clip["gloss"], "translation": "",
                "gloss_spans": clip["gloss_spans"]}  # fmt: skip

    latents = {split: [latent(c) for c in cs] for split, cs in clips.items()}
    vocab = Vocabulary.build([c["gloss"] for c in clips["train"]])
    assert len(vocab) == 5 + len(GLOSSES)
    return latents, vocab


def test_tiny_cslr_learns_synthetic_corpus(corpus, tmp_path):
    latents, vocab = corpus
    longest = max(len(r["latent"]) for rs in latents.values() for r in rs)
    cfg = micro_cslr_config(LATENT_DIM, batch_size=8, bucket=128, max_label_len=6)
    assert longest <= 128
    m = cfg.model
    m.temporal_width = m.conv_channels = 64
    m.lstm_hidden = 32
    cfg.pruning.update(every=50, start=50)  # keep_dims = 16 of 32
    cfg.optim.lr = 2e-3
    cfg.train.update(total_steps=STEPS, eval_every=STEPS, log_every=50)
    task = tasks.CSLRTask(cfg, len(vocab), class_counts=vocab.counts)
    with compile_cache(tmp_path / "xla_cache"):
        untrained = evaluate(Trainer(cfg, task), latents["dev"], vocab)
        result = fit(cfg, task, train_source=latents["train"], dev_source=latents["dev"],
                     vocab=vocab, workdir=str(tmp_path / "run"))  # fmt: skip
        refs, hyps = decode_split(result.trainer, latents["test"], vocab)
    test = score(refs, hyps)
    print(f"dev WER untrained {untrained['wer']:.1f} -> trained {result.dev_metrics['wer']:.1f}, "
          f"test WER {test['wer']:.1f}")  # fmt: skip
    assert untrained["wer"] >= 90.0
    assert result.step == STEPS and result.dev_metrics["num_sentences"] == SIZES["dev"]
    assert result.dev_metrics["wer"] < 20.0
    assert test["sentences"] == SIZES["test"] and test["wer"] < 20.0
