"""Issue 9, host-side checks (signx_jax/train/faults.py): config validation
before any compile, non-finite input policy, work dir and disk-space preflight."""

from __future__ import annotations

import collections
import glob
import importlib
import os

import numpy as np
import pytest
from flax import nnx

from signx_jax.data import pipeline, shards
from signx_jax.data.vocab import Vocabulary
from signx_jax.train import faults
from signx_jax.train.fit import fit
from signx_jax.train.loop import Trainer
from tests.reliability import helpers

# -- config ---------------------------------------------------------------------------


def _invalid(cfg, match, **kw):
    kw.setdefault("device_count", 8)
    kw.setdefault("process_count", 1)
    with pytest.raises(faults.ConfigError, match=match):
        faults.validate_config(cfg, **kw)


def test_shipped_stage_configs_are_valid():
    checked = 0
    for path in sorted(glob.glob(os.path.join(helpers.REPO, "configs", "*_*.py"))):
        name = os.path.basename(path)[:-3]
        if not name.endswith(("_cslr", "_pose2gloss", "_video2pose")):
            continue
        module = importlib.import_module(f"configs.{name}")
        for arg in (None, "base"):
            faults.validate_config(module.get_config(arg), device_count=8, process_count=1)
            checked += 1
    assert checked >= 12


def test_unknown_keys_are_named_with_a_suggestion():
    cfg = helpers.tiny_cslr_config()
    cfg.train.chekpoint_every = 5  # typo
    cfg.model.wdith = 64
    with pytest.raises(faults.ConfigError) as e:
        faults.validate_config(cfg, device_count=1, process_count=1)
    message = str(e.value)
    assert "unknown key 'train.chekpoint_every' (did you mean 'train.checkpoint_every'?)" in message
    assert "'model.wdith'" in message  # every problem at once


def test_optional_keys_are_accepted():
    cfg = helpers.tiny_cslr_config(**{"data.nonfinite_inputs": "error"})
    cfg.train.min_free_bytes = 1
    faults.validate_config(cfg, device_count=1, process_count=1)
    cfg.data.nonfinite_inputs = "ignore"
    _invalid(cfg, r"data.nonfinite_inputs='ignore'; expected one of \('mask', 'error'\)")


@pytest.mark.parametrize(
    "stage, key, value, match",
    [
        ("cslr", "heads", 3, r"model.width=64 is not divisible by model.heads=3"),
        (
            "pose2gloss",
            "vit_heads",
            5,
            r"model.latent_dim=64 is not divisible by model.vit_heads=5",
        ),
        ("pose2gloss", "dec_heads", 0, r"model.dec_width=32 is not divisible by model.dec_heads=0"),
        ("video2pose", "heads", 7, r"model.width=\d+ is not divisible by model.heads=7"),
    ],
)
def test_width_not_divisible_by_heads(stage, key, value, match):
    from configs.common import train_config

    cfg = train_config(stage, "tiny")
    cfg.model[key] = value
    _invalid(cfg, match)


@pytest.mark.parametrize(
    "mesh, batch, match",
    [
        (dict(data=16, fsdp=1, tensor=1), 32, r"needs 16 devices.*this run has 8"),
        (dict(data=-1, fsdp=3, tensor=1), 32, r"needs 3 devices \(a multiple, with -1\)"),
        (dict(data=-1, fsdp=-1, tensor=1), 32, r"at most one -1"),
        (dict(data=0, fsdp=1, tensor=1), 32, r"sizes must be positive"),
        (
            dict(data=4, fsdp=2, tensor=1),
            12,
            r"global batch 12 is not divisible by data x fsdp = 8",
        ),
    ],
)
def test_impossible_meshes(mesh, batch, match):
    cfg = helpers.tiny_cslr_config(**{"data.batch_size": batch})
    cfg.mesh.update(mesh)
    _invalid(cfg, match)


def test_trainer_rejects_a_bad_config_before_building_anything():
    class Exploding:  # any use of the task would fail differently
        def __getattr__(self, name):
            raise AssertionError(f"task.{name} used before the config was checked")

    cfg = helpers.tiny_cslr_config()
    cfg.mesh.data = 4096
    with pytest.raises(faults.ConfigError, match="needs 4096 devices"):
        Trainer(cfg, Exploding())


# -- non-finite inputs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_batch(tmp_path_factory):
    """A real train batch holding record 2, whose latent has a NaN and an Inf."""
    out = tmp_path_factory.mktemp("nan")
    helpers.write_latent_dataset(out, nan_records=(2,))
    vocab = Vocabulary.load(str(out / "vocab.json"))
    it = pipeline.make_train_iterator(
        shards.open_split(str(out), "train"), vocab, batch_size=8, buckets=(32,), seed=0,
        features=("latent",), max_label_len=4, shard_index=0, shard_count=1,
    )  # fmt: skip
    batch = next(it)
    assert 2 in batch["index"] and not np.isfinite(batch["latent"]).all()
    return batch


def test_mask_zeroes_and_counts_nonfinite_inputs(nan_batch):
    before = nan_batch["latent"].copy()
    out, bad = faults.sanitize_batch(nan_batch, "mask")
    assert bad == 1
    assert np.isfinite(out["latent"]).all()
    row = int(np.flatnonzero(nan_batch["index"] == 2)[0])
    broken = ~np.isfinite(before[row])
    assert (out["latent"][row][broken] == 0).all()
    np.testing.assert_array_equal(out["latent"][row][~broken], before[row][~broken])
    np.testing.assert_array_equal(nan_batch["latent"], before)  # caller's batch untouched
    assert out["labels"] is nan_batch["labels"]


def test_error_policy_names_records_and_the_fix(nan_batch):
    with pytest.raises(faults.NonFiniteInputError, match=r"'latent' of record\(s\) \[2\] holds 2"):
        faults.sanitize_batch(nan_batch, "error", where="train split")


def test_finite_batches_pass_through_unchanged():
    batch = {"poses": np.ones((2, 3, 4), np.float32), "index": np.arange(2)}
    out, bad = faults.sanitize_batch(batch, "error")
    assert bad == 0 and out["poses"] is batch["poses"]
    batch["poses"][1, 2, 3] = -np.inf
    out, bad = faults.sanitize_batch(batch, "mask")
    assert bad == 1 and out["poses"][1, 2, 3] == 0 and out["poses"].dtype == np.float32


# -- work dir and disk space ------------------------------------------------------------------


class _TinyTask:
    """The smallest Task: one Linear layer (builds in milliseconds)."""

    name, features, trainable = "tiny", ("latent",), nnx.Param

    def build_model(self, rngs):
        return nnx.Linear(4, 4, rngs=rngs)

    def init_aux(self):
        return {}


def test_unwritable_workdir_fails_before_the_trainer_is_built(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match=r"work dir .*file/run.* is not writable"):
        fit(helpers.tiny_cslr_config(), None, train_source=None, dev_source=None, vocab=None,
            workdir=str(blocker / "run"))  # fmt: skip


def test_disk_full_fails_before_training(tmp_path, monkeypatch):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(faults.shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 10, 10))
    with pytest.raises(faults.InsufficientDiskSpaceError, match=r"has 0.0 MiB free.*3 checkpoints"):
        fit(helpers.tiny_cslr_config(), _TinyTask(), train_source=None, dev_source=None,
            vocab=None, workdir=str(tmp_path))  # fmt: skip


def test_free_space_estimate_counts_every_kept_checkpoint(tmp_path, monkeypatch):
    state = {"w": np.zeros((256, 256), np.float32), "step": np.zeros((), np.int32)}
    one = 256 * 256 * 4 + 4
    assert faults.checkpoint_bytes(state) == one
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(faults.shutil, "disk_usage", lambda _: usage(0, 0, 7 * one))
    assert faults.check_free_space(str(tmp_path), state, copies=7) == 7 * one
    with pytest.raises(faults.InsufficientDiskSpaceError, match="about 1.8 MiB"):
        faults.check_free_space(str(tmp_path), state, copies=7, min_free_bytes=1)


def test_heads_do_not_matter_without_attention():
    cfg = helpers.tiny_cslr_config()  # vac_baseline: conv + BiLSTM + CTC
    cfg.model.heads = 3
    faults.validate_config(cfg, device_count=1, process_count=1)
