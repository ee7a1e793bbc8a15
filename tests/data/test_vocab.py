"""Gloss vocabulary: specials first, deterministic order, JSON round trip."""

import pytest

from signx_jax import schema
from signx_jax.data.vocab import Vocabulary

SENTENCES = ["IX GO HOUSE", "GO HOUSE GO", "BOOK IX", "ZEBRA"]


def test_build_orders_by_frequency_then_alphabet():
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.tokens[:5] == list(schema.SPECIAL_TOKENS)
    assert vocab.tokens[5:] == ["GO", "HOUSE", "IX", "BOOK", "ZEBRA"]
    assert vocab.counts == [0] * 5 + [3, 2, 2, 1, 1]
    assert Vocabulary.build(reversed(SENTENCES)) == vocab
    assert Vocabulary.build(SENTENCES, min_count=2).tokens[5:] == ["GO", "HOUSE", "IX"]


def test_encode_decode():
    vocab = Vocabulary.build(SENTENCES)
    ids = vocab.encode("IX UNSEEN GO")
    assert ids == [vocab.token_to_id("IX"), schema.UNK_ID, vocab.token_to_id("GO")]
    assert vocab.decode(ids) == "IX <unk> GO"
    go = vocab.token_to_id("GO")
    noisy = [schema.BOS_ID, go, schema.BLANK_ID, schema.PAD_ID, go, schema.EOS_ID, go]
    assert vocab.decode(noisy) == "GO GO"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([len(vocab)])


def test_save_load_roundtrip(tmp_path):
    vocab = Vocabulary.build(SENTENCES + ["ÜBER"])
    path = str(tmp_path / "vocab.json")
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and len(loaded) == len(vocab) == 11
    assert loaded.counts == vocab.counts
    (tmp_path / "bad.json").write_text('{"tokens": ["a"]}')
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary.load(str(tmp_path / "bad.json"))


def test_constructor_prepends_specials_and_rejects_duplicates():
    vocab = Vocabulary(["A", "B"], [5, 1])
    assert len(vocab) == 7 and vocab.token_to_id("A") == 5 and vocab.counts[5:] == [5, 1]
    with pytest.raises(ValueError, match="appears twice"):
        Vocabulary(["A", "A"])
