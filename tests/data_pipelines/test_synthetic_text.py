"""Tests of the synthetic corpus text side: STM files, phoenix2014t shortcut, translations."""

from __future__ import annotations

import numpy as np
import pytest

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import corpus, grammar, translate

_REF = grammar.default_reference_dir()
_TRAIN_STM = _REF / "phoenix2014-T-groundtruth-train.stm"
needs_reference = pytest.mark.skipif(not _TRAIN_STM.exists(), reason=f"{_TRAIN_STM} missing")


@needs_reference
def test_parse_a_real_stm_line():
    line = _TRAIN_STM.read_text(encoding="utf-8").splitlines()[0]
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
    with pytest.raises(ValueError, match="split=path"):
        grammar.stm_splits("bogus", "", 0.1, 0)


@needs_reference
def test_phoenix_shortcut_vocabulary_is_the_train_stm_vocabulary():
    cfg = get_config("phoenix2014t")
    cfg.reference_dir = str(_REF)
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
