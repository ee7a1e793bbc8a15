"""Sign2Text: TranslationTask learns a tiny synthetic translation corpus.

Latent records are a simple deterministic encoding of the synthetic grammar's
gloss sentences (a fixed random prototype per gloss, held for a few frames,
plus noise); their ``translation`` is the rule-based English of
``data_pipelines.synthetic.translate`` (reordered, inflected, with function
words), so the decoder has to learn more than a copy of the glosses.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from configs.synthetic_translation import get_config
from data_pipelines.synthetic import grammar, translate
from signx_jax import schema
from signx_jax.data import pipeline
from signx_jax.data.subword import SubwordVocabulary
from signx_jax.data.vocab import Vocabulary
from signx_jax.sharding import to_global
from signx_jax.train import translation
from signx_jax.train.fit import evaluate
from signx_jax.train.loop import Trainer

STEPS = 400


def _records(n: int, seed: int, dim: int) -> list[dict]:
    protos = np.random.default_rng(1234).normal(size=(len(grammar.LEXICON), dim))
    index = {g: i for i, g in enumerate(sorted(grammar.LEXICON))}
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        glosses = grammar.sample_sentence(rng, 2, 5)
        frames = rng.integers(8, 12, len(glosses))  # >= 2 encoder frames (T / 4) per gloss
        latent = np.concatenate(
            [np.repeat(protos[index[g]][None], k, 0) for g, k in zip(glosses, frames, strict=True)]
        )
        latent = latent + 0.3 * rng.normal(size=latent.shape)
        ends = np.cumsum(frames)
        out.append({
            "clip_id": f"slt-{seed}-{i}", "dataset": "synthetic", "signer": "s0",
            "latent": latent.astype(np.float32), "gloss": " ".join(glosses),
            "translation": translate.translate_builtin(glosses),
            "gloss_spans": np.stack([ends - frames, ends], 1).astype(np.int32),
        })  # fmt: skip
    return out


def _config():
    c = get_config("tiny")
    c.train.total_steps = STEPS
    c.data.batch_size = 16
    c.data.eval_batch_size = 40
    c.data.buckets = (64,)
    c.data.max_label_len = 24
    c.data.num_views = 0
    c.optim.grad_accum_steps = 1
    c.optim.noam_warmup = 100
    c.optim.noam_scale = 2.0
    c.model.use_distillation = False  # the KD teacher only costs compile time here
    c.model.use_pruning = False
    c.pruning.enabled = False
    c.model.dropout_attn = c.model.dropout_act = c.model.dropout_res = 0.1
    c.decode.beam = 4
    c.mesh.data = 1
    return c


@pytest.fixture(scope="module")
def trained():
    cfg = _config()
    train, dev = _records(400, 0, cfg.model.latent_dim), _records(40, 1, cfg.model.latent_dim)
    vocab = Vocabulary.build(r["gloss"] for r in train)
    target_vocab = translation.build_target_vocab(cfg, [r["translation"] for r in train])
    task = translation.TranslationTask(cfg, len(vocab), len(target_vocab), vocab.counts)
    trainer = Trainer(cfg, task)
    t0 = time.perf_counter()
    before = evaluate(trainer, dev, vocab, target_vocab=target_vocab)
    source = translation.training_source(cfg, train, target_vocab)
    it = pipeline.make_train_iterator(
        source, vocab, batch_size=cfg.data.batch_size, buckets=cfg.data.buckets, seed=cfg.seed,
        features=task.features, max_label_len=cfg.data.max_label_len, target_vocab=target_vocab,
        shard_index=0, shard_count=1,
    )  # fmt: skip
    losses = [
        float(trainer.train_step(to_global(next(it), trainer.mesh))["loss"]) for _ in range(STEPS)
    ]
    after = evaluate(trainer, dev, vocab, target_vocab=target_vocab)
    print(f"\nbefore {before}\nafter {after}\n{time.perf_counter() - t0:.0f}s")
    return dict(before=before, after=after, losses=losses, target_vocab=target_vocab)


def test_bleu_rises_well_above_the_untrained_model(trained):
    before, after = trained["before"], trained["after"]
    assert before["num_sentences"] == after["num_sentences"] == 40
    assert before["bleu4"] < 5.0
    assert after["bleu4"] > before["bleu4"] + 25.0
    assert after["rouge_l"] > before["rouge_l"] + 30.0
    assert after["wer"] == pytest.approx(100.0 - after["bleu4"])  # checkpoint ranking
    assert np.mean(trained["losses"][-20:]) < 0.6 * np.mean(trained["losses"][:20])


def test_summarize_eval_scores_decoded_targets():
    cfg = _config()
    sentences = ["the cat sees a dog .", "i go home ."]
    tv = SubwordVocabulary.train(sentences * 5, 40)
    gloss_vocab = Vocabulary(["CAT", "DOG"])
    ids = [tv.encode(s) for s in sentences]
    width = max(map(len, ids)) + 2

    def pad(x):
        return np.asarray(x + [-1] * (width - len(x)))

    outputs = [{
        "valid": np.array([True, True, False]),
        "targets": np.stack([pad(ids[0]), pad(ids[1]), pad([])]) .clip(0),
        "target_lengths": np.array([len(ids[0]), len(ids[1]), 0]),
        # A perfect first row; the second stops after "i".
        "hyp": np.stack([pad(ids[0] + [schema.EOS_ID]), pad(tv.encode("i")), pad([7, 7])]),
        "labels": np.array([[5, 6], [5, 0], [0, 0]]), "label_lengths": np.array([2, 1, 0]),
        "gloss_hyp": np.array([[5, 6], [6, -1], [-1, -1]]), "index": np.array([0, 1, -1]),
    }]  # fmt: skip
    # References are the records' annotation, whatever the (cut) target rows hold.
    source = [{"gloss": "CAT DOG", "translation": sentences[0]},
              {"gloss": "CAT", "translation": " i  go home . "}]  # fmt: skip
    task = translation.TranslationTask(cfg, len(gloss_vocab), len(tv))
    refs, hyps = translation.decode_translations(outputs, source, tv)
    assert refs == sentences and hyps == ["the cat sees a dog .", "i"]
    scores = task.summarize_eval(outputs, gloss_vocab, tv, source=source)
    assert scores["num_sentences"] == 2.0
    # Every hypothesis n-gram matches: BLEU-n = brevity penalty exp(1 - 10 / 7).
    for n in range(1, 5):
        assert scores[f"bleu{n}"] == pytest.approx(100.0 * np.exp(1.0 - 10.0 / 7.0))
    # ROUGE-L F_1.2: row 1 is 1; row 2 has P = 1, R = 1/4.
    f2 = (1 + 1.44) * 0.25 / (0.25 + 1.44)
    assert scores["rouge_l"] == pytest.approx(100.0 * (1.0 + f2) / 2)
    assert scores["wer"] == pytest.approx(100.0 - scores["bleu4"])
    assert scores["gloss_wer"] == pytest.approx(100.0 / 3)  # CAT DOG right; CAT -> DOG
