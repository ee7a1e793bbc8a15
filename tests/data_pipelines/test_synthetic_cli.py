"""The synthetic corpus CLI writes shards + vocab.json that read back, and inspects them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import corpus

shards = pytest.importorskip("signx_jax.data.shards")
cli = pytest.importorskip("data_pipelines.synthetic.__main__")


def test_generate_then_inspect(tmp_path, capsys):
    cfg = get_config("tiny")
    cfg.num_train, cfg.num_dev, cfg.num_test = 3, 1, 1
    cfg.image_size = 16
    cli.generate(cfg, str(tmp_path), records_per_shard=2)
    train = shards.open_split(str(tmp_path), "train")
    assert len(train) == 3
    expected = next(corpus.generate_split(cfg, "train"))
    record = train[0]
    assert record["gloss"] == expected["gloss"] and record["signer"] == expected["signer"]
    np.testing.assert_array_equal(record["gloss_spans"], expected["gloss_spans"])
    # Shards store float16 poses.
    np.testing.assert_allclose(
        record["poses"]["dwpose"], expected["poses"]["dwpose"], atol=2e-3, rtol=2e-3
    )
    manifest = json.loads((tmp_path / "train.manifest.json").read_text())
    assert manifest["extra"]["generator"]["seed"] == cfg.seed
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    assert vocab  # written by signx_jax.data.vocab
    cli.inspect(str(tmp_path))
    out = capsys.readouterr().out
    assert "== train: 3 clips" in out and "top-10 glosses" in out and "signer00" in out
