"""The TFDS builder wraps the same converter: a tiny CSL-Daily build round trip."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data_pipelines import fixtures as F

tfds = pytest.importorskip("tensorflow_datasets")


def test_csl_daily_builder(tmp_path):
    from data_pipelines.datasets.tfds_builders import CslDaily

    F.write_csl_daily(tmp_path / "manual")
    for name, split, _, _, n in F.CSL_GOOD:
        streams = ("dwpose", "mediapipe") if name == "S000000_P0000_T00" else ("sapiens",)
        F.write_poses(tmp_path / "manual" / "poses", split, name, n, streams=streams)
    builder = CslDaily(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "manual"))
    )
    assert builder.info.splits["train"].num_examples == 3
    assert builder.info.splits["dev"].num_examples == 1
    examples = {
        ex["clip_id"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split="train"))
    }
    first = examples["S000000_P0000_T00"]
    assert first["gloss"].decode() == "他 家 有 人" and first["poses"]["dwpose"].shape == (5, 384)
    assert first["presence"][:, :2].all() and first["gloss_spans"].shape == (0, 2)
    assert np.asarray(examples["S000001_P0001_T00"]["presence"]).sum(axis=0).tolist() == [
        0,
        0,
        0,
        0,
        6,
    ]
