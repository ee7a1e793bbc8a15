"""signx_jax/scaling.py: synthetic corpus, power-law fit, frontier, outputs."""

import json
import os

import numpy as np
import pytest

from configs import ladder
from signx_jax import scaling


def test_fit_recovers_a_known_power_law():
    compute = np.geomspace(1e9, 1e13, 12)
    loss = 40.0 * compute**-0.25 + 0.7
    fit = scaling.fit_power_law(compute, loss)
    assert fit["kind"] == "a*C^-b+c"
    assert fit["b"] == pytest.approx(0.25, rel=1e-3)
    assert fit["c"] == pytest.approx(0.7, rel=1e-3)
    assert fit["a"] == pytest.approx(40.0, rel=1e-2)


def test_fit_with_few_points_is_a_loglog_line():
    compute = np.array([1e6, 1e7, 1e8])
    fit = scaling.fit_power_law(compute, 3.0 * compute**-0.5)
    assert fit["kind"] == "loglog"
    assert (fit["a"], fit["b"], fit["c"]) == pytest.approx((3.0, 0.5, 0.0), rel=1e-6)


def _point(width, steps, flops, dev_loss, size=64):
    return scaling.Point(width, 100 * width, size, steps, flops, 1.0, dev_loss, 50.0, 1.0)


def test_frontier_is_the_lower_envelope():
    points = [_point(16, 10, 1.0, 5.0), _point(32, 10, 2.0, 5.5), _point(16, 20, 3.0, 4.0),
              _point(32, 20, 4.0, 3.0), _point(16, 40, 5.0, 3.5)]  # fmt: skip
    xs, ys = scaling.frontier(points)
    np.testing.assert_array_equal(xs, [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(ys, [5.0, 4.0, 3.0])


def test_corpus_is_deterministic_and_well_formed():
    cfg = ladder.scaling_config()
    a, b = scaling.make_corpus(cfg, 20, seed=3), scaling.make_corpus(cfg, 20, seed=3)
    assert [r["gloss"] for r in a] == [r["gloss"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ra["latent"], rb["latent"])
    vocab = scaling.vocabulary(cfg)
    for r in a:
        n = len(r["gloss"].split())
        assert cfg.min_glosses <= n <= cfg.max_label_len
        assert all(vocab.token_to_id(g) != vocab.token_to_id("<unk>") for g in r["gloss"].split())
        # Every gloss gets at least two frames (CTC needs room for repeats), within the bucket.
        assert 2 * n <= len(r["latent"]) <= cfg.frames
        assert r["latent"].shape[1] == cfg.latent_dim


def test_a_tiny_sweep_learns_through_the_shared_evaluation(tmp_path):
    """Trainer steps on pipeline batches; dev loss and WER (the main job's evaluation)
    fall from the first milestone to the last."""
    cfg = ladder.scaling_config()
    cfg.update(sizes=(32,), train_sizes=(128,), steps=(5, 600), dev_size=48, noise=0.3)
    result = scaling.sweep_all(cfg, str(tmp_path))
    first, last = result["points"]
    assert (first["steps"], last["steps"]) == (5, 600)
    assert last["dev_loss"] < 0.7 * first["dev_loss"]
    assert last["dev_wer"] < first["dev_wer"] and last["dev_wer"] < 60
    assert (tmp_path / "scaling.png").exists()


def test_outputs_table_json_and_png(tmp_path):
    cfg = ladder.scaling_config()
    points = [_point(w, s, w * s * 1e6, 10.0 / np.sqrt(w * s) + 1.0, size)
              for size in (64, 512) for w in (16, 32) for s in (10, 20, 40, 80)]  # fmt: skip
    result = scaling.write_outputs(points, cfg, str(tmp_path))
    assert os.path.getsize(tmp_path / "scaling.png") > 10_000
    saved = json.loads((tmp_path / "scaling.json").read_text())
    assert len(saved["points"]) == 16 and set(saved["fits"]) == {"64", "512"}
    assert result["fits"]["64"]["b"] > 0
    table = (tmp_path / "scaling.md").read_text()
    assert table.count("\n| ") == 16  # one row per point after the header
    assert "Frontier fit, 512 train clips" in table
