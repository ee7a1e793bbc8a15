"""SubwordVocabulary: BPE / character targets for Sign2Text (signx_jax/data/subword.py)."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipelines.synthetic import grammar, translate
from signx_jax import schema
from signx_jax.data import pipeline
from signx_jax.data.subword import PRESEGMENTED, BPEDropoutSource, SubwordVocabulary


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    rng = np.random.default_rng(0)
    return [translate.translate_builtin(grammar.sample_sentence(rng, 2, 6)) for _ in range(300)]


@pytest.fixture(scope="module")
def bpe(sentences) -> SubwordVocabulary:
    return SubwordVocabulary.train(sentences, 120)


def test_special_ids_match_the_schema(bpe):
    assert tuple(bpe.tokens[:5]) == schema.SPECIAL_TOKENS
    assert len(bpe) == 120
    ids = [i for s in ("the dog eats an apple .", "i go home .") for i in bpe.encode(s)]
    assert min(ids) >= len(schema.SPECIAL_TOKENS)  # no special id for ordinary text
    assert bpe.counts[: len(schema.SPECIAL_TOKENS)] == [0] * 5
    assert sum(bpe.counts) > 0


def test_round_trip_and_decode_rules(bpe, sentences):
    for s in sentences[:50]:
        assert bpe.decode(bpe.encode(s)) == s
    ids = bpe.encode("the dog sleeps .")
    noisy = [schema.BOS_ID, *ids[:2], schema.PAD_ID, schema.BLANK_ID, *ids[2:], schema.EOS_ID, *ids]
    assert bpe.decode(noisy) == "the dog sleeps ."
    assert schema.UNK_ID in bpe.encode("the ☃ .")
    with pytest.raises(ValueError, match="outside"):
        bpe.decode([len(bpe)])


def test_training_is_deterministic_and_saves(bpe, sentences, tmp_path):
    assert SubwordVocabulary.train(sentences, 120) == bpe
    bpe.save(str(tmp_path / "tv.json"))
    again = SubwordVocabulary.load(str(tmp_path / "tv.json"))
    assert again == bpe and again.encode("the cat runs .") == bpe.encode("the cat runs .")
    (tmp_path / "bad.json").write_text('{"tokens": []}')
    with pytest.raises(ValueError, match="format"):
        SubwordVocabulary.load(str(tmp_path / "bad.json"))


def test_bpe_dropout_changes_segmentation_not_text(bpe, sentences):
    # alpha = 0 is exactly sentencepiece's deterministic BPE.
    for s in sentences[:100]:
        assert bpe.sample_pieces(s, np.random.default_rng(0), 0.0) == bpe.pieces(s)
    changed = 0
    for i, s in enumerate(sentences[:100]):
        ids = bpe.sample_encode(s, np.random.default_rng(i), 0.2)
        assert bpe.decode(ids) == s
        assert ids == bpe.sample_encode(s, np.random.default_rng(i), 0.2)  # same rng, same pieces
        changed += ids != bpe.encode(s)
    assert changed > 20


def test_dropout_source_is_a_function_of_seed_and_index(bpe, sentences):
    records = [{"translation": s, "gloss": "X"} for s in sentences[:40]]
    src = BPEDropoutSource(records, bpe, alpha=0.2, seed=3)
    again = BPEDropoutSource(records, bpe, alpha=0.2, seed=3)
    other = BPEDropoutSource(records, bpe, alpha=0.2, seed=4)
    texts = [src[i]["translation"] for i in range(40)]
    assert texts == [again[i]["translation"] for i in reversed(range(40))][::-1]
    assert texts != [other[i]["translation"] for i in range(40)]
    for i, t in enumerate(texts):
        assert t.startswith(PRESEGMENTED)
        assert bpe.decode(bpe.encode(t)) == sentences[i]
    assert records[0]["translation"] == sentences[0]  # the source is not modified
    assert "40 records" in repr(src)


def test_pipeline_yields_subword_targets(bpe, sentences):
    records = [
        {"latent": np.zeros((6, 4), np.float32), "gloss": "A B", "translation": s}
        for s in sentences[:4]
    ]
    from signx_jax.data.vocab import Vocabulary

    it = pipeline.make_eval_iterator(
        records, Vocabulary(["A", "B"]), batch_size=4, buckets=(8,), features=("latent",),
        max_label_len=32, target_vocab=bpe, shard_index=0, shard_count=1,
    )  # fmt: skip
    batch = next(iter(it))
    for row, s in enumerate(sentences[:4]):
        n = batch["target_lengths"][row]
        assert bpe.decode(batch["targets"][row, :n]) == s


def test_character_level_for_chinese(tmp_path):
    vocab = SubwordVocabulary.characters(["我 想 喝 水", "你 想 喝 茶 吗"])
    assert vocab.character_level and tuple(vocab.tokens[:5]) == schema.SPECIAL_TOKENS
    assert vocab.tokens[5:] == ["喝", "想", "你", "吗", "我", "水", "茶"]  # count, code point
    assert vocab.counts[5:7] == [2, 2]
    ids = vocab.encode("你想喝水")
    assert len(ids) == 4 and vocab.decode(ids) == "你想喝水"
    assert vocab.encode("咖") == [schema.UNK_ID]
    rng = np.random.default_rng(0)
    assert vocab.sample_encode("你想喝水", rng, 0.5) == ids  # no dropout on characters
    vocab.save(str(tmp_path / "zh.json"))
    assert SubwordVocabulary.load(str(tmp_path / "zh.json")) == vocab
