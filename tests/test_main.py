"""signx_jax.main: the config is checked before any work, and no step leaves a
half-written output that a rerun would take for a finished one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from configs import demo, synthetic_corpus
from signx_jax import main
from signx_jax.data import shards
from signx_jax.data.vocab import Vocabulary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bad_values_fail_before_the_corpus(tmp_path):
    """Every stage's problems at once, as the message only, before data/ exists."""
    t0 = time.time()
    proc = subprocess.run(
        [
            sys.executable, "-m", "signx_jax.main", "--config=configs/demo.py:tiny",
            f"--workdir={tmp_path}", "--config.stage1.data.batch_size=0",
            "--config.stage3.optim.lr=-1", "--config.corpus.num_dev=0",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    err = proc.stderr[proc.stderr.index("error: invalid config:") :]
    assert err.splitlines()[1:] == [
        "  stage1: data.batch_size must be > 0, got 0",
        "  stage3: optim.lr must be > 0, got -1.0",
        "  corpus.num_dev must be > 0, got 0",
    ]
    assert not (tmp_path / "data").exists()
    assert time.time() - t0 < 120  # imports only: no corpus, no compile


def test_config_problems_of_the_shipped_configs():
    assert main.config_problems(demo.get_config()) == []
    cfg = demo.get_config("tiny")
    cfg.routes = ("pose", "vidoe")
    cfg.corpus.min_sign_frames = 50
    assert main.config_problems(cfg) == [
        "corpus.min_sign_frames=50 is above corpus.max_sign_frames=20",
        "routes=('pose', 'vidoe'): expected one or more of ('pose', 'video')",
    ]


def _small_corpus():
    cfg = synthetic_corpus.get_config("tiny")
    cfg.num_train, cfg.num_dev, cfg.num_test = 4, 2, 2
    return cfg


def test_corpus_killed_before_vocab_is_regenerated(tmp_path, monkeypatch):
    """A crash after the manifests, before vocab.json: the rerun repairs it
    (it used to log 'corpus already in' and fail on vocab.json forever)."""
    data_dir = str(tmp_path / "data")

    def killed(self, path):
        raise KeyboardInterrupt("killed while writing vocab.json")

    with monkeypatch.context() as m:
        m.setattr(Vocabulary, "save", killed)
        with pytest.raises(KeyboardInterrupt):
            main.generate_corpus(_small_corpus(), data_dir)
    assert not os.path.exists(data_dir)  # nothing half-written is left in place
    main.generate_corpus(_small_corpus(), data_dir)
    vocab = Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    assert len(vocab) > 5
    assert [len(shards.open_split(data_dir, s)) for s in main.SPLITS] == [4, 2, 2]
    assert os.listdir(tmp_path) == ["data"]  # no temporary sibling left


def test_corpus_left_incomplete_by_an_older_run_is_regenerated(tmp_path):
    data_dir = str(tmp_path / "data")
    main.generate_corpus(_small_corpus(), data_dir)
    os.remove(os.path.join(data_dir, "vocab.json"))  # what the old non-atomic write left
    main.generate_corpus(_small_corpus(), data_dir)
    Vocabulary.load(os.path.join(data_dir, "vocab.json"))


def _latent_records(n: int):
    for i in range(n):
        yield {"clip_id": f"c{i}", "gloss": "A B", "latent": np.ones((3 + i, 4), np.float32)}


def test_latent_split_with_a_stale_manifest_is_rebuilt(tmp_path, monkeypatch):
    """The latent cache redoes a split that does not open as a whole, not only one
    without a manifest."""
    written = []

    def fake_write_latents(encode, source, vocab, out_dir, split, **kwargs):
        written.append((os.path.basename(out_dir), split))
        shards.write_split(_latent_records(3), out_dir, split)

    monkeypatch.setattr(main, "write_latents", fake_write_latents)
    model = types.SimpleNamespace(encode=None, video2pose=None)
    stage = types.SimpleNamespace(model=lambda: model, mesh=None)
    cfg = demo.get_config("tiny")
    cfg.routes = ("pose",)
    latent_dir = str(tmp_path / "latents")
    main.build_latent_cache(cfg, dict.fromkeys(main.SPLITS), None, latent_dir, stage, stage)
    assert written == [("pose", s) for s in main.SPLITS]

    manifest = shards.read_manifest(os.path.join(latent_dir, "pose"), "dev")
    os.remove(os.path.join(latent_dir, "pose", manifest["shards"][0]["file"]))
    written.clear()
    main.build_latent_cache(cfg, dict.fromkeys(main.SPLITS), None, latent_dir, stage, stage)
    assert written == [("pose", "dev")]
    assert len(shards.open_split(os.path.join(latent_dir, "pose"), "dev")) == 3
