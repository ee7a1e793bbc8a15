"""Tests of the synthetic corpus text side: STM files, phoenix2014t shortcut, translations."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import corpus, grammar, translate

_TRAIN_STM = grammar.phoenix2014t_files()["train"]  # shipped with the repository


def test_parse_a_real_stm_line():
    with gzip.open(_TRAIN_STM, "rt", encoding="utf-8") as f:
        line = f.readline()
    row = grammar.parse_stm_line(line)
    assert row["id"] == line.split()[0]
    assert row["signer"].startswith("Signer")
    assert row["glosses"] == line.split()[5:] and len(row["glosses"]) >= 1
    assert grammar.parse_stm_line("   ") is None
    with pytest.raises(ValueError, match="<glosses"):
        grammar.parse_stm_line("too few fields", "x.stm:3")


def test_glosses_spec_with_explicit_files(tmp_path):
    train = tmp_path / "a.stm"
    train.write_text("c1 1 S1 0.0 1.0 A B C\nc2 1 S1 0.0 1.0 B D\n", encoding="utf-8")
    dev = tmp_path / "b.stm"
    dev.write_text("c3 1 S2 0.0 1.0 A D\n", encoding="utf-8")
    cfg = get_config("tiny")
    cfg.glosses = f"train={train},dev={dev},test={dev}"
    cfg.num_train, cfg.num_dev, cfg.num_test = -1, -1, -1
    world = corpus.build_world(cfg)
    assert [corpus.split_size(cfg, s, world) for s in corpus.SPLITS] == [2, 1, 1]
    clip_id, glosses, text = corpus.clip_text(cfg, world, "train", 1)
    assert (clip_id, glosses) == ("c2", ["B", "D"]) and text
    # Another window of the annotation: unseen text, the same vocabulary.
    cfg.text_window, cfg.num_train, cfg.num_dev, cfg.num_test = 1, 1, 1, 0
    assert [corpus.split_size(cfg, s, world) for s in corpus.SPLITS] == [1, 0, 0]
    assert corpus.clip_text(cfg, world, "train", 0)[:2] == ("c2", ["B", "D"])
    assert corpus.vocabulary_sentences(cfg, world) == ["A B C", "B D"]
    cfg.num_train = -1
    with pytest.raises(ValueError, match="text_window=1"):
        corpus.split_size(cfg, "train", world)
    with pytest.raises(ValueError, match="split=path"):
        grammar.stm_splits("bogus", "", 0.1, 0)


def test_phoenix_shortcut_vocabulary_is_the_train_stm_vocabulary():
    cfg = get_config("phoenix2014t")
    world = corpus.build_world(cfg)
    train_glosses = {g for r in grammar.read_stm(_TRAIN_STM) for g in r["glosses"]}
    vocab = {g for s in corpus.vocabulary_sentences(cfg, world) for g in s.split()}
    assert len(vocab) == len(train_glosses) > 1000
    stm = world["stm"]
    train_ids = {r["id"] for r in stm["train"]}
    test_ids = {r["id"] for r in stm["test"]}
    assert not train_ids & test_ids
    assert 0.05 < len(test_ids) / (len(train_ids) + len(test_ids)) < 0.15
    assert len(stm["dev"]) > 0
    # Prototypes exist for every gloss of every split (dev may hold unseen glosses).
    assert {g for rows in stm.values() for r in rows for g in r["glosses"]} <= set(
        world["keyframes"]
    )


def test_top_glosses_keeps_the_k_most_frequent_train_glosses_in_annotation_order():
    row = lambda i, text: {"id": i, "glosses": text.split()}  # noqa: E731
    splits = {
        "train": [row("t1", "A B C"), row("t2", "A B D"), row("t3", "A C"), row("t4", "E")],
        "dev": [row("d1", "D A E B"), row("d2", "E D")],
    }
    two = grammar.top_glosses(splits, 2)  # A (3), then B and C (2 each): B by name
    assert [r["glosses"] for r in two["train"]] == [["A", "B"], ["A", "B"], ["A"]]
    assert [(r["id"], r["glosses"]) for r in two["dev"]] == [("d1", ["A", "B"])]
    assert [r["id"] for r in grammar.top_glosses(splits, 2, min_len=2)["train"]] == ["t1", "t2"]
    assert grammar.top_glosses(splits, 0) is splits


def test_phoenix_text_at_60_glosses_keeps_its_sentence_repetition():
    """The vocabulary knob on the shipped PHOENIX-2014T text: 60 train glosses, every
    kept sentence at least 2 of them long, repeated sentences as in the annotation
    (5,852 train sentences, 5,347 distinct)."""
    cfg = get_config("phoenix2014t")
    cfg.top_glosses, cfg.min_sentence_glosses = 60, 2
    stm = corpus.build_world(cfg)["stm"]
    vocab = {g for r in stm["train"] for g in r["glosses"]}
    assert len(vocab) == 60 and all(len(r["glosses"]) >= 2 for r in stm["train"])
    assert {g for r in stm["dev"] + stm["test"] for g in r["glosses"]} <= vocab
    sentences = [" ".join(r["glosses"]) for r in stm["train"]]
    assert 5000 < len(sentences) and len(set(sentences)) < 0.95 * len(sentences)


def test_builtin_translations_differ_from_glosses_and_are_deterministic():
    rng = np.random.default_rng(0)
    sentences = [grammar.sample_sentence(rng, 2, 6) for _ in range(200)]
    texts = [translate.translate_builtin(s) for s in sentences]
    assert texts == [translate.translate_builtin(s) for s in sentences]
    assert all(t != " ".join(s).lower() for s, t in zip(sentences, texts, strict=True))
    assert all(2 <= len(s) <= 6 for s in sentences)
    # Reordering and inflection, checked on hand-written cases.
    assert translate.translate_builtin(["YESTERDAY", "IX-1", "BOOK", "READ", "NOT"]) == (
        "i did not read a book yesterday ."
    )
    assert translate.translate_builtin(["IX-3", "SCHOOL", "GO"]) == "he goes to the school ."
    assert translate.translate_builtin(["TOMORROW", "IX-2", "GO", "WHERE"]) == (
        "where will you go tomorrow ?"
    )
    assert translate.translate_builtin(["DOG", "BIG", "NOT"]) == "the dog is not big ."


def test_generic_translation_reorders_and_inflects():
    glosses = "REGION REGEN KOMMEN HEUTE".split()
    text = translate.translate_generic(glosses)
    assert text == translate.translate_generic(glosses)
    words = text.lower().rstrip(" .").split()
    assert words[:2] == ["heute", "kommt"]  # time first, verb second and inflected
    assert "regen" in words and text != " ".join(glosses).lower()
