"""write_report writes consistent metrics, the paper table, alignments and plots."""

import json

import pytest

from signx_jax import metrics
from signx_jax.report import format_alignment, results_from_files, write_report
from signx_jax.scoring_files import write_ctm, write_stm


def test_format_alignment_marks_errors():
    (a,) = metrics.wer([["A", "BB", "C"]], [["A", "X", "C", "D"]]).alignments
    text = format_alignment(a).splitlines()
    assert text[0] == "REF: A BB C *"
    assert text[1] == "HYP: A X  C D"
    assert text[2] == "       S    I"


def test_write_report(tmp_path):
    results = {
        "dev": {
            "refs": ["LIEB ZUSCHAUER poss-EUCH GUT ABEND", "NORD WOLKE REGEN"],
            "hyps": ["LIEB ZUSCHAUER poss-EUCH GUT ABEND", "loc-NORD WOLKE SCHNEE KLAR"],
            "ids": ["a", "b"],
        },
        "test": {"refs": ["DRUCK TIEF KOMMEN"], "hyps": [["DRUCK", "TIEF"]]},
    }
    summary = write_report(tmp_path, results, "phoenix2014t", "sentence")
    dev = summary["splits"]["dev"]
    # sentence mode (_trans) keeps poss-EUCH; loc- is stripped: 1 sub + 1 ins over 8 words.
    assert (dev["sub"], dev["dele"], dev["ins"], dev["n_ref"]) == (1, 0, 1, 8)
    assert dev["wer"] == pytest.approx(25.0)
    assert summary["splits"]["test"]["wer"] == pytest.approx(100 / 3)
    assert json.loads((tmp_path / "metrics.json").read_text()) == summary
    md = (tmp_path / "report.md").read_text()
    assert "Dev ROUGE | Dev BLEU1" in md and "Test WER" in md
    assert "phoenix2014t/sentence" in md
    assert "**dev / b**" in md and "SCHNEE" in md
    assert "**dev / a**" not in md  # perfect sentences are not "worst"
    for png in ("wer_by_length.png", "substitutions.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    official = write_report(tmp_path / "off", results, "phoenix2014t")
    assert official["cleanup"] == "phoenix2014t/official"
    assert official["splits"]["dev"]["sub"] == 2  # poss-EUCH -> EUCH in the hypothesis only


def test_results_from_files_follow_the_stm(tmp_path):
    write_stm(tmp_path / "ref.stm", [("a", ["DRUCK", "TIEF"]), ("b", ["WIND"])])
    write_ctm(tmp_path / "hyp.ctm", [("a", ["DRUCK", "loc-TIEF"])])
    res = results_from_files(tmp_path / "ref.stm", tmp_path / "hyp.ctm")
    assert res == dict(
        refs=[["DRUCK", "TIEF"], ["WIND"]], hyps=[["DRUCK", "loc-TIEF"], []], ids=["a", "b"]
    )
    summary = write_report(tmp_path, {"dev": res}, "phoenix2014t")
    assert summary["splits"]["dev"]["sub"] == 1  # [EMPTY] vs WIND; loc-TIEF -> TIEF
    write_ctm(tmp_path / "bad.ctm", [("zzz", ["X"])])
    with pytest.raises(ValueError, match="zzz"):
        results_from_files(tmp_path / "ref.stm", tmp_path / "bad.ctm")
