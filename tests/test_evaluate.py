"""signx_jax/evaluate.py: the metrics row and table of the main job's report."""

from signx_jax import evaluate


def test_score_is_in_percent_and_perfect_for_identical_sentences():
    refs = ["IX NOT-YET ARRIVE HOUSE", "GO WANT BOOK FINISH NOW"]
    row = evaluate.score(refs, list(refs))
    assert row["wer"] == 0.0
    assert abs(row["rouge_l"] - 100.0) < 1e-6
    assert abs(row["bleu4"] - 100.0) < 1e-6
    assert row["sentences"] == 2.0


def test_score_of_empty_hypotheses_is_worst():
    refs = ["IX NOT-YET ARRIVE HOUSE", "GO WANT BOOK FINISH NOW"]
    row = evaluate.score(refs, ["", ""])
    assert row["wer"] == 100.0
    assert row["rouge_l"] == 0.0
    assert 0.0 <= row["bleu1"] <= 1.0


def test_table_lists_every_row_and_metric():
    rows = {
        "pose / test / joint": evaluate.score(["A B C"], ["A B D"]),
        "video / test / joint": evaluate.score(["A B C"], ["A B C"]),
    }
    table = evaluate.format_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| route / split / decoding | WER | BLEU1 |")
    assert len(lines) == 4 and "| pose / test / joint | 33.33 |" in table
