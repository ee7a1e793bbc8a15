"""signx_jax/corpus_ladder.py: its rungs are valid overrides of the main job's config,
and its table is built from the rungs' seed summaries."""

from __future__ import annotations

import ast
import json

import pytest

from configs import demo
from signx_jax import corpus_ladder, main


@pytest.mark.parametrize("rung", list(corpus_ladder.RUNGS))
def test_every_rung_overrides_keys_the_main_job_has(rung):
    cfg = demo.get_config()
    for arg in corpus_ladder.RUNGS[rung]:
        key, value = arg.removeprefix("--config.").split("=", 1)
        *path, leaf = key.split(".")
        node = cfg
        for part in path:
            node = node[part]
        assert leaf in node, arg
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value  # a plain string, as ml_collections reads it
        node[leaf] = parsed
    assert main.config_problems(cfg) == []
    if rung == "phoenix_full":
        assert cfg.routes == ("pose",) and not cfg.corpus.rgb and cfg.corpus.num_train == -1


def _finished_rung(root, wer):
    summary = {f"{route} / test / {d}": {"wer": {"mean": w, "sd": 1.0, "min": w - 1, "max": w + 1}}
               for route, d, w in wer}  # fmt: skip
    (root / "seed0" / "report").mkdir(parents=True)
    (root / "seeds.json").write_text(json.dumps({"seeds": [0, 1], "summary": summary}))
    baselines = {"most frequent train sentence / test": {"wer": 97.0}}
    (root / "seed0" / "report" / "metrics.json").write_text(json.dumps({"baselines": baselines}))


def test_the_table_has_a_row_per_rung_and_a_cell_per_route_and_decoder(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_ladder, "corpus_stats",
                        lambda d: {"clips": 600, "vocab": 57, "distinct": 567})  # fmt: skip
    _finished_rung(tmp_path / "a", [("pose", "ctc_greedy", 9.0), ("pose", "dev-chosen", 8.0),
                                    ("video", "dev-chosen", 27.5)])  # fmt: skip
    _finished_rung(tmp_path / "b", [("pose", "ctc_greedy", 20.0), ("pose", "dev-chosen", 18.0)])
    rows = [corpus_ladder.rung_row(r, str(tmp_path / r)) for r in ("a", "b")]
    table = corpus_ladder.format_ladder(rows).splitlines()
    assert table[0].count("|") == 10 and "video test WER, dev-chosen" in table[0]
    assert table[2] == ("| a | 600 | 57 | 567 | 9.00 (sd 1.00, worst 10.00) | 8.00 (sd 1.00, "
                        "worst 9.00) | - | 27.50 (sd 1.00, worst 28.50) | 97.00 |")  # fmt: skip
    assert table[3].startswith("| b | 600 | 57 | 567 | 20.00") and table[3].count(" - ") == 2


def test_diagnosis_means_over_seeds(tmp_path, monkeypatch):
    for seed, (acc, wer) in enumerate([(80.0, 40.0), (70.0, 50.0)]):
        report = tmp_path / f"seed{seed}" / "report"
        report.mkdir(parents=True)
        novel = {"video / test / dev-chosen": {"novel": wer, "num_novel": 50},
                 "video / test / ctc_greedy": {"novel": 99.0, "num_novel": 50}}  # fmt: skip
        (report / "diagnosis.json").write_text(json.dumps({
            "probe_test_frame_accuracy": {"raw poses": 90.0, "pose latents": acc},
            "stage1_test_wer": wer + 10, "seen_vs_novel_test_wer": novel}))  # fmt: skip
    d = corpus_ladder.rung_diagnosis(str(tmp_path), [0, 1])
    assert d == {"probe: raw poses": 90.0, "probe: pose latents": 75.0,
                 "stage 1 test WER": 55.0, "video novel-sentence WER": 45.0}  # fmt: skip
    monkeypatch.setattr(corpus_ladder, "corpus_stats",
                        lambda d: {"clips": 600, "vocab": 57, "distinct": 567})  # fmt: skip
    _finished_rung(tmp_path / "a", [("pose", "ctc_greedy", 9.0)])
    row = corpus_ladder.rung_row("a", str(tmp_path / "a"))
    table = corpus_ladder.format_ladder([{**row, "diagnosis": d}])
    assert "| a | 90.0 | 75.0 | 55.0 | 45.0 |" in table
