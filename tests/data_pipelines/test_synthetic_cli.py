"""The synthetic corpus CLI: shards + vocab.json that read back, inspect's report,
byte-identical output per seed, --help."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import corpus
from signx_jax.data.vocab import Vocabulary

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
    vocab = Vocabulary.load(str(tmp_path / "vocab.json"))
    assert vocab.decode(vocab.encode(record["gloss"])) == record["gloss"]
    cli.inspect(str(tmp_path))
    out = capsys.readouterr().out
    assert f"vocabulary: {len(vocab)} tokens" in out  # counts, lengths, vocabulary, signers
    assert "== train: 3 clips" in out and "frames per clip:" in out and "top-10 glosses" in out
    assert "clips per signer: signer00=1, signer01=1, signer02=1" in out


def test_inspect_summarises_many_signers(tmp_path, capsys):
    cfg = get_config("tiny")
    cfg.num_train, cfg.num_dev, cfg.num_test = 14, 1, 1
    cfg.num_signers.train = 13  # one signer signs two clips
    cfg.rgb = False
    cli.generate(cfg, str(tmp_path), records_per_shard=8)
    cli.inspect(str(tmp_path))
    out = capsys.readouterr().out
    assert "clips per signer (13 signers): min 1, median 1, max 2" in out


def _split_bytes(out_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out_dir.iterdir()) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    """Two generations with one seed write identical files (shards, indices, manifests,
    vocabulary); another seed writes other shards."""
    cfg = get_config("tiny")
    cfg.num_train, cfg.num_dev, cfg.num_test = 3, 1, 1
    cfg.image_size = 16
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg.seed = seed
        cli.generate(cfg, str(tmp_path / name), records_per_shard=2)
    first = _split_bytes(tmp_path / "a")
    assert "train-00000-of-00002.tfrecord" in first and "vocab.json" in first
    assert first == _split_bytes(tmp_path / "b")
    other = _split_bytes(tmp_path / "c")
    assert first["train-00000-of-00002.tfrecord"] != other["train-00000-of-00002.tfrecord"]


def test_cli_help():
    """``python -m data_pipelines.synthetic --help`` documents generate and inspect (absl
    exits 1 after printing the help)."""
    out = subprocess.run(
        [sys.executable, "-m", "data_pipelines.synthetic", "--help"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    ).stdout  # fmt: skip
    assert "generate --out DIR" in out and "inspect --data_dir DIR" in out
    assert "--glosses" in out and "--records_per_shard" in out


def test_cli_overrides_config_fields(tmp_path):
    """``python -m data_pipelines.synthetic generate --config=FILE:ARG --config.x=y`` then
    ``inspect``, as a user runs them."""
    run = functools.partial(
        subprocess.run, capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    module = [sys.executable, "-m", "data_pipelines.synthetic"]
    run([*module, "generate", f"--out={tmp_path}", "--config=configs/synthetic_corpus.py:tiny",
         "--config.num_train=2", "--config.num_dev=1", "--config.num_test=1",
         "--config.image_size=16", "--seed=3"])  # fmt: skip
    manifest = json.loads((tmp_path / "train.manifest.json").read_text())
    assert manifest["num_records"] == 2 and manifest["extra"]["generator"]["seed"] == 3
    assert manifest["rgb_hw"] == [16, 16]
    out = run([*module, "inspect", f"--data_dir={tmp_path}"]).stdout
    assert "== train: 2 clips" in out and "== dev: 1 clips" in out and "vocabulary:" in out
