"""The synthetic corpus written in each publisher layout (PHOENIX-2014T, PHOENIX-2014,
CSL-Daily, WLASL, ASLLRP) converts back to itself."""

from __future__ import annotations

import numpy as np
import pytest

from configs import synthetic_corpus
from data_pipelines.datasets.convert import convert
from data_pipelines.synthetic import generate_split
from data_pipelines.synthetic.publish import LAYOUTS, write_layout
from signx_jax import schema
from signx_jax.data import shards


@pytest.fixture(scope="module")
def corpus():
    cfg = synthetic_corpus.get_config("tiny")
    cfg.num_train, cfg.num_dev, cfg.num_test = 4, 2, 2
    return cfg, {s: list(generate_split(cfg, s)) for s in ("train", "dev", "test")}


def _isolated(clips: dict) -> dict:
    """WLASL is one gloss per clip: keep each clip's first sign only (text side)."""
    return {s: [dict(c, gloss=c["gloss"].split()[0]) for c in cs] for s, cs in clips.items()}


@pytest.mark.parametrize("dataset", LAYOUTS)
def test_layout_converts_back(corpus, dataset, tmp_path):
    cfg, clips = corpus
    clips = _isolated(clips) if dataset == "wlasl" else clips
    root = tmp_path / "download"
    expected = write_layout(dataset, clips, root)
    report = convert(dataset, root, tmp_path / "shards", poses_root=root / "poses",
                     rgb_size=cfg.image_size)  # fmt: skip
    assert not report.skipped, report.skipped
    for split, split_clips in clips.items():
        source = shards.open_split(str(tmp_path / "shards"), split)
        got = {source[i]["clip_id"]: source[i] for i in range(len(source))}
        assert sorted(got) == sorted(k for k, _ in expected[split])
        for (key, gloss), clip in zip(expected[split], split_clips, strict=True):
            record = got[key]
            assert record["gloss"] == gloss
            if dataset == "asllrp":  # the DAI times every sign: spans and text come back
                np.testing.assert_array_equal(record["gloss_spans"], clip["gloss_spans"])
                assert record["translation"] == clip["translation"]
                assert record["signer"] == clip["signer"]
            np.testing.assert_array_equal(record["presence"], clip["presence"])
            for stream in schema.STREAM_NAMES:
                np.testing.assert_allclose(
                    record["poses"][stream], clip["poses"][stream], atol=2e-3, rtol=2e-3
                )
            assert record["rgb"].shape == clip["rgb"].shape
            # PNG is lossless; JPEG (CSL-Daily, WLASL) stays within a few levels
            err = np.abs(record["rgb"].astype(int) - clip["rgb"].astype(int)).mean()
            assert err < (0.01 if dataset.startswith("phoenix") else 6.0)
