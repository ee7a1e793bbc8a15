"""WER against hand-computed alignments and jiwer; BLEU/ROUGE/accuracy by hand."""

import random
import re
import shutil
import subprocess

import jiwer
import numpy as np
import pytest

from signx_jax import metrics, scoring_files

# Debian's sctk package keeps sclite off PATH, behind its `sctk` wrapper.
SCLITE = shutil.which("sclite") or shutil.which("sclite", path="/usr/lib/sctk/bin")


def test_wer_hand_computed_with_alignment_marks():
    result = metrics.wer([["A", "B", "C", "D"]], [["A", "X", "C", "D", "E"]])
    assert (result.sub, result.dele, result.ins, result.n_ref) == (1, 0, 1, 4)
    assert result.wer == pytest.approx(0.5)
    assert result.alignments[0].ops == [
        ("C", "A", "A"),
        ("S", "B", "X"),
        ("C", "C", "C"),
        ("C", "D", "D"),
        ("I", None, "E"),
    ]
    empty = metrics.wer([["A", "B"]], [[]])
    assert (empty.dele, empty.errors) == (2, 2)
    assert metrics.wer([[]], [["A"]]).ins == 1


def test_sclite_costs_can_count_more_errors_than_levenshtein():
    ref, hyp = [["A", "B", "C", "X", "Y"]], [["X", "Y", "P", "Q", "R"]]
    unit = metrics.wer(ref, hyp, costs="unit")
    sclite = metrics.wer(ref, hyp, costs="sclite")
    assert (unit.sub, unit.dele, unit.ins) == (5, 0, 0)  # cost 5 (sclite cost 20)
    assert (sclite.sub, sclite.dele, sclite.ins) == (0, 3, 3)  # sclite cost 18, 6 errors
    assert [op for op, _, _ in sclite.alignments[0].ops] == list("DDDCCIII")
    # Same error count, different split: 2 S (cost 8) vs D C I (cost 6).
    ab = metrics.wer([["A", "B"]], [["B", "C"]], costs="sclite")
    assert [op for op, _, _ in ab.alignments[0].ops] == ["D", "C", "I"]


@pytest.mark.parametrize(
    "ref, hyp, marks",
    [
        # Equal cost 15 as S S S C I (4 errors) or I I I C D C D (5 errors).
        ("REGEN WOLKE WOLKE REGEN", "SONNE SONNE SONNE REGEN WOLKE", "SSSCI"),
        # Equal cost 15 as S S S C D (4 errors) or D D D C I C I (5 errors).
        ("REGEN REGEN REGEN WOLKE SONNE", "WOLKE SONNE SONNE WOLKE", "DDDCICI"),
    ],
)
def test_equal_cost_ties_are_broken_as_sclite_does(ref, hyp, marks):
    """sclite's own output on these pairs (`-o pra`): substitution or match
    first, then insertion, then deletion, which changes the error count."""
    a = metrics.align(ref.split(), hyp.split())
    assert "".join(op for op, _, _ in a.ops) == marks
    assert (a.sub, a.dele, a.ins) == (marks.count("S"), marks.count("D"), marks.count("I"))


def _sclite_marks(out: str) -> list[tuple[str, tuple[int, int, int]]]:
    """Per-sentence C/S/D/I marks read from the REF/HYP rows of `sclite -o pra`
    (correct words lowercased, '***' for a missing word), with its S, D, I."""
    scores = re.findall(r"^Scores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    refs, hyps = re.findall(r"^REF:(.*)$", out, re.M), re.findall(r"^HYP:(.*)$", out, re.M)
    rows = []
    for score, ref, hyp in zip(scores, refs, hyps, strict=True):
        marks = ""
        for r, h in zip(ref.split(), hyp.split(), strict=True):
            marks += "I" if r[0] == "*" else "D" if h[0] == "*" else "C" if r.islower() else "S"
        rows.append((marks, tuple(int(x) for x in score[1:])))
    return rows


@pytest.mark.skipif(SCLITE is None, reason="NIST sclite (SCTK) is not installed")
def test_alignments_equal_sclite_on_random_pairs(tmp_path):
    """Op-by-op equal to sclite on STM/CTM files as the PHOENIX scorer reads them."""
    rng = random.Random(0)
    vocab = ["REGEN", "WOLKE", "SONNE", "poss-EUCH", "E+R+Z", "NORD"]
    utts = []
    for k in range(500):
        words = vocab[: rng.randint(2, len(vocab))]  # small vocabularies repeat glosses
        ref = [rng.choice(words) for _ in range(rng.randint(1, 15))]
        hyp = [rng.choice(words) for _ in range(rng.randint(0, 15))]
        utts.append((f"utt{k:04d}", ref, hyp))
    scoring_files.write_stm(tmp_path / "ref.stm", [(u, r) for u, r, _ in utts])
    scoring_files.write_ctm(tmp_path / "hyp.ctm", [(u, h) for u, _, h in utts])
    out = subprocess.run(
        [SCLITE, "-r", "ref.stm", "stm", "-h", "hyp.ctm", "ctm", "-o", "pra", "stdout"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = _sclite_marks(out)
    assert len(theirs) == len(utts)
    for (utt, ref, hyp), (marks, counts) in zip(utts, theirs, strict=True):
        a = metrics.align(ref, hyp)
        assert ("".join(op for op, _, _ in a.ops), (a.sub, a.dele, a.ins)) == (marks, counts), utt


def test_wer_long_sequences_use_exact_integers():
    rng = np.random.default_rng(0)
    ref = [str(x) for x in rng.integers(0, 20, 500)]
    hyp = [str(x) for x in rng.integers(0, 20, 480)]
    result = metrics.wer([ref] * 3, [hyp] * 3)
    assert isinstance(result.errors, int)
    assert result.n_ref == 1500
    a = result.alignments[0]
    assert sum(op != "I" for op, _, _ in a.ops) == 500
    assert sum(op != "D" for op, _, _ in a.ops) == 480
    unit = metrics.wer([ref], [hyp], costs="unit")
    assert unit.errors == jiwer.process_words(" ".join(ref), " ".join(hyp)).wer * 500


def test_wer_unit_costs_match_jiwer_on_random_pairs():
    rng = random.Random(0)
    vocab = ["A", "B", "C", "D", "poss-EUCH", "E+R+Z"]
    refs = [[rng.choice(vocab) for _ in range(rng.randint(1, 12))] for _ in range(1000)]
    hyps = [[rng.choice(vocab) for _ in range(rng.randint(0, 12))] for _ in range(1000)]
    ours = metrics.wer(refs, hyps, costs="unit")
    for r, h, a in zip(refs, hyps, ours.alignments, strict=True):
        theirs = jiwer.process_words(" ".join(r), " ".join(h) if h else "")
        assert a.errors == theirs.substitutions + theirs.deletions + theirs.insertions
    corpus = jiwer.wer([" ".join(r) for r in refs], [" ".join(h) for h in hyps])
    assert ours.wer == pytest.approx(corpus)
    # sclite costs never find fewer errors than the minimum edit distance.
    sclite = metrics.wer(refs, hyps, costs="sclite")
    assert all(
        s.errors >= u.errors for s, u in zip(sclite.alignments, ours.alignments, strict=True)
    )


def test_bleu_hand_computed():
    # hyp "A B C X" vs ref "A B C D": p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 -> floored 0.1/1.
    scores = metrics.bleu(["A B C D"], ["A B C X"])
    assert scores["bleu1"] == pytest.approx(75.0)
    assert scores["bleu2"] == pytest.approx(100 * np.sqrt(3 / 4 * 2 / 3))
    assert scores["bleu3"] == pytest.approx(100 * (3 / 4 * 2 / 3 * 1 / 2) ** (1 / 3))
    assert scores["bleu4"] == pytest.approx(100 * (3 / 4 * 2 / 3 * 1 / 2 * 0.1) ** (1 / 4))
    # Brevity penalty: hyp of 2 tokens vs ref of 4: exp(1 - 4/2).
    short = metrics.bleu(["A B C D"], ["A B"])
    assert short["bleu1"] == pytest.approx(100 * np.exp(1 - 2))
    # Glosses are not split on '-' or '+' (tokenize='none').
    assert metrics.bleu(["poss-EUCH E+R+Z"], ["poss-EUCH E+R+Z"])["bleu2"] == pytest.approx(100)
    # Chinese character level: 今天 天气 vs 今天天气 are identical characters.
    assert metrics.bleu(["今天 天气"], ["今天天气"], chinese_chars=True)["bleu4"] == pytest.approx(
        100
    )


def test_rouge_l_sentence_level_fbeta():
    # LCS("A B C D", "A X C") = 2: P = 2/3, R = 1/2, beta 1.2.
    p, r, b2 = 2 / 3, 1 / 2, 1.2**2
    first = (1 + b2) * p * r / (r + b2 * p)
    got = metrics.rouge_l(["A B C D", "E F"], ["A X C", "G"])
    assert got == pytest.approx(100 * (first + 0.0) / 2)
    assert metrics.rouge_l(["poss-EUCH GUT"], ["poss-EUCH GUT"]) == pytest.approx(100)


def test_top1_accuracy_per_instance_and_per_class():
    acc = metrics.top1_accuracy([0, 0, 0, 1, 2], [0, 0, 1, 1, 0], num_classes=4)
    assert acc["per_instance"] == pytest.approx(60.0)
    assert acc["per_class"] == pytest.approx(100 * (2 / 3 + 1 + 0) / 3)
