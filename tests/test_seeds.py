"""The several-seeds command: statistics, corpus sharing, resume, seed plumbing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from configs import demo
from signx_jax import seeds


def _metrics(wer: float) -> dict:
    row = {"wer": wer, "bleu4": 100 - wer, "rouge_l": 50.0}
    return {"metrics": {"video / test / joint": row, "pose / test / joint": dict(row, wer=wer / 2)}}


def test_summarize_mean_sd_min_max():
    per_seed = {0: _metrics(28.0), 1: _metrics(31.0), 2: _metrics(25.0)}
    s = seeds.summarize(per_seed)["video / test / joint"]["wer"]
    assert s["mean"] == pytest.approx(28.0)
    assert s["sd"] == pytest.approx(np.std([28, 31, 25], ddof=1))
    assert (s["min"], s["max"]) == (25.0, 31.0)
    assert seeds.summarize(per_seed)["pose / test / joint"]["wer"]["max"] == 15.5


def test_main_runs_each_seed_once_and_shares_the_corpus(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run(config, workdir, seed, extra):
        calls.append((seed, extra))
        os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
        with open(os.path.join(workdir, "data", "vocab.json"), "w") as f:
            f.write(str(seed))  # a later seed must see the first seed's corpus
        os.makedirs(os.path.join(workdir, "report"))
        with open(os.path.join(workdir, "report", "metrics.json"), "w") as f:
            json.dump(_metrics(20.0 + seed), f)
        return 60.0 * (seed + 1)

    monkeypatch.setattr(seeds, "run_seed", fake_run)
    argv = ["--workdir", str(tmp_path), "--seeds", "0,1", "--", "--config.x=1"]
    seeds.main(argv)
    assert calls == [(0, ["--config.x=1"]), (1, ["--config.x=1"])]
    first = tmp_path / "seed0" / "data" / "vocab.json"
    # seed 1's corpus is seed 0's, hard-linked (its fake run then overwrote the file)
    assert os.stat(first).st_ino == os.stat(tmp_path / "seed1" / "data" / "vocab.json").st_ino
    out = capsys.readouterr().out
    assert "| video / test / joint | 20.50 | 0.71 | 20.00 | 21.00 |" in out
    assert "seed 0: 1.0 min, seed 1: 2.0 min" in out

    calls.clear()
    seeds.main(argv)  # both finished: nothing reruns, the table is printed again
    assert calls == []
    summary = json.loads((tmp_path / "seeds.json").read_text())
    assert summary["summary"]["video / test / joint"]["wer"]["mean"] == pytest.approx(20.5)


def test_demo_seed_reaches_every_stage_but_not_the_corpus():
    c = demo.get_config()
    c.seed = 7
    assert (c.stage1.seed, c.stage2.seed, c.stage3.seed) == (7, 7, 7)
    assert c.corpus.seed == 0
