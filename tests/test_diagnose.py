"""signx_jax/diagnose.py: linear probes, seen vs novel sentences, on a tiny run."""

import json

import numpy as np
import pytest

from signx_jax import diagnose
from tests.runs import tiny_run


def test_probe_separates_signs_and_not_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)) * 3

    def frames(n, labels_from_centres=True):
        y = rng.integers(0, 5, n)
        x = centres[y] + rng.normal(size=(n, 16))
        if not labels_from_centres:
            y = rng.integers(0, 5, n)  # labels unrelated to the frames
        return x, np.array([f"G{k}" for k in y])

    assert diagnose.probe_accuracy(frames(2000), frames(500)) > 95
    noise = diagnose.probe_accuracy(frames(2000, False), frames(500, False))
    assert noise < 35  # chance is 20 %
    # A test gloss never seen in train cannot be right.
    x, y = frames(200)
    assert diagnose.probe_accuracy(frames(2000), (x, np.full(200, "NEW"))) == 0


def test_seen_and_novel(tmp_path):
    rows = {
        "pose / test / ctc_greedy": {"refs": ["A B", "C D", "E F"], "hyps": ["A B", "C", "X Y"]},
        "pose / dev / ctc_greedy": {"refs": ["A B"], "hyps": [""]},
    }
    (tmp_path / "hypotheses.json").write_text(json.dumps(rows))
    out = diagnose.seen_and_novel(str(tmp_path), {"A B", "C D"}, dataset="none")
    assert list(out) == ["pose / test / ctc_greedy"]
    r = out["pose / test / ctc_greedy"]
    assert (r["num_seen"], r["num_novel"]) == (2, 1)
    assert r["seen"] == pytest.approx(25.0) and r["novel"] == pytest.approx(100.0)


def test_diagnose_a_run():
    run = tiny_run()
    result = diagnose.diagnose(run, max_probe_records=100)
    probes = result["probe_test_frame_accuracy"]
    assert set(probes) == {"raw poses", "pose latents", "video latents"}
    assert all(0 <= v <= 100 for v in probes.values())
    assert probes["raw poses"] > 10  # above chance (1 / the tiny grammar's glosses)
    assert 0 <= result["stage1_test_wer"]
    rows = result["seen_vs_novel_test_wer"]
    assert {"pose / test / ctc_greedy", "video / test / dev-chosen"} <= set(rows)
    with open(f"{run}/report/hypotheses.json") as f:
        num_test = len(json.load(f)["pose / test / ctc_greedy"]["refs"])
    assert all(r["num_seen"] + r["num_novel"] == num_test for r in rows.values())
    table = diagnose.format_diagnosis(result)
    assert "| raw poses |" in table and "Stage 1 alone" in table
