"""Fail early and clearly (issue 9): config checks, input sanitising, disk preflight.

Everything here runs on the host before or around the compiled step:

* ``validate_config``: unknown keys (typos), impossible shapes (a width not
  divisible by its heads) and a mesh the machine cannot hold are rejected when
  the ``Trainer`` is built, before anything is compiled.
* ``sanitize_batch``: non-finite poses / latents in a batch are zeroed and
  counted (``data.nonfinite_inputs = "mask"``) or rejected with the record
  index (``"error"``). Non-finite *losses or gradients* are handled inside the
  step (``loop.Trainer._step`` skips the update and counts it).
* ``check_free_space``: a work dir without room for the checkpoints the run
  will keep fails before training starts, not at the first save hours later.
"""

from __future__ import annotations

import difflib
import math
import shutil
from collections.abc import Iterator
from typing import Any

import jax
import ml_collections
import numpy as np

NONFINITE_POLICIES = ("mask", "error")
INPUT_FEATURES = ("poses", "latent")  # float inputs that can carry NaN/Inf
# Keys read with a default (``cfg.data.get``) that a config may omit or set.
OPTIONAL_KEYS = frozenset({"data.nonfinite_inputs", "train.min_free_bytes"})
# (width key, heads key) pairs of the model configs (configs/models.py).
_HEAD_PAIRS = (
    ("width", "heads"),
    ("latent_dim", "vit_heads"),
    ("stream_hidden", "fusion_heads"),
    ("dec_width", "dec_heads"),
)


class ConfigError(ValueError):
    """A config that cannot train; raised before anything is compiled."""


class NonFiniteInputError(ValueError):
    """A batch holds NaN/Inf inputs and ``data.nonfinite_inputs == "error"``."""


class InsufficientDiskSpaceError(OSError):
    """The work dir cannot hold the checkpoints the run will keep."""


# -- config ---------------------------------------------------------------------


def _flat_keys(cfg: Any, prefix: str = "") -> Iterator[str]:
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict | dict):
            yield from _flat_keys(value, name + ".")
        else:
            yield name


def _reference_config(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict | None:
    """The ``configs/common.py`` config this one specialises (None: not one of ours)."""
    from configs.common import STAGES, train_config

    model = cfg.get("model") or {}
    if cfg.get("stage") not in STAGES or "size" not in model:
        return None
    kwargs = {"dataset": cfg.get("dataset", "synthetic")}
    if cfg.stage == "cslr":
        kwargs["variant"] = model.get("variant", "signx")
        if (cfg.get("data") or {}).get("task") == "translation":  # Sign2Text adds keys
            from configs.synthetic_translation import translation_config

            return translation_config(model["size"], **kwargs)
    reference = train_config(cfg.stage, model["size"], **kwargs)
    if cfg.stage == "cslr" and model.get("frame_encoder"):  # pixel space (paper Table 8)
        from configs.models import PIXEL_METHODS, apply_frame_encoder

        method = {e: m for m, e in PIXEL_METHODS.items()}.get(model["frame_encoder"])
        if method is not None:  # else the model itself names the unknown encoder
            apply_frame_encoder(reference.model, method, model["image_size"], model["size"])
    return reference


def _unknown_keys(cfg, reference) -> list[str]:
    """Keys inside the shared sections (data, train, model, ...) that the
    reference lacks: typos. New top-level keys are a launcher's own (ladder's
    ``topology``) and pass."""
    known = set(_flat_keys(reference)) | OPTIONAL_KEYS
    sections = {k for k, v in reference.items() if isinstance(v, ml_collections.ConfigDict)}
    problems = []
    for key in _flat_keys(cfg):
        if key in known or key.split(".")[0] not in sections:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown key {key!r}{hint}")
    return problems


def _shape_problems(cfg) -> list[str]:
    problems = []
    for section in ("model", "stage1_model"):
        model = cfg.get(section) or {}
        attention = model.get("use_transformer", True) or model.get("use_decoder", True)
        for width, heads in _HEAD_PAIRS:
            w, h = model.get(width), model.get(heads)
            if w is None or h is None or (width == "width" and not attention):
                continue  # (a CSLR without transformer has no heads to split into)
            if h <= 0 or w % h:
                problems.append(f"{section}.{width}={w} is not divisible by {section}.{heads}={h}")
    data = cfg.get("data") or {}
    buckets = tuple(data.get("buckets") or ())
    if not buckets or any(int(b) <= 0 for b in buckets):
        problems.append(f"data.buckets must be positive frame counts, got {buckets}")
    for key in ("batch_size", "eval_batch_size", "max_label_len"):
        if key in data and int(data[key]) <= 0:
            problems.append(f"data.{key} must be > 0, got {data[key]}")
    policy = data.get("nonfinite_inputs", "mask")
    if policy not in NONFINITE_POLICIES:
        problems.append(f"data.nonfinite_inputs={policy!r}; expected one of {NONFINITE_POLICIES}")
    optim = cfg.get("optim") or {}
    if "lr" in optim and not float(optim["lr"]) > 0:
        problems.append(f"optim.lr must be > 0, got {optim['lr']}")
    train = cfg.get("train") or {}
    for key in ("total_steps", "log_every", "checkpoint_every", "max_nonfinite_streak"):
        if key in train and int(train[key]) <= 0:
            problems.append(f"train.{key} must be > 0, got {train[key]}")
    return problems


def _mesh_problems(cfg, device_count: int, process_count: int) -> list[str]:
    mesh = dict(cfg.get("mesh") or {})
    if not mesh:
        return []
    fixed = [int(v) for v in mesh.values() if v != -1]
    if any(v <= 0 for v in fixed) or sum(v == -1 for v in mesh.values()) > 1:
        return [f"mesh {mesh}: sizes must be positive, with at most one -1 (= the rest)"]
    used = math.prod(fixed)
    if used > device_count or (-1 in mesh.values() and device_count % used):
        return [
            f"mesh {mesh} needs {used} devices (a multiple, with -1); this run has {device_count}"
        ]
    sizes = {k: (device_count // used if v == -1 else int(v)) for k, v in mesh.items()}
    batch_shards = sizes.get("data", 1) * sizes.get("fsdp", 1)
    batch = int((cfg.get("data") or {}).get("batch_size", batch_shards)) * process_count
    if batch % batch_shards:
        return [f"global batch {batch} is not divisible by data x fsdp = {batch_shards} ({sizes})"]
    return []


def config_problems(
    cfg: ml_collections.ConfigDict,
    *,
    device_count: int | None = None,
    process_count: int | None = None,
    check_mesh: bool = True,
) -> list[str]:
    """Every problem of ``cfg`` (empty: it can train); see ``validate_config``."""
    problems = []
    reference = _reference_config(cfg)
    if reference is not None:
        problems += _unknown_keys(cfg, reference)
    problems += _shape_problems(cfg)
    if check_mesh:
        devices = jax.device_count() if device_count is None else device_count
        processes = jax.process_count() if process_count is None else process_count
        problems += _mesh_problems(cfg, devices, processes)
    return problems


def validate_config(
    cfg: ml_collections.ConfigDict,
    *,
    device_count: int | None = None,
    process_count: int | None = None,
    check_mesh: bool = True,
) -> None:
    """Raise ConfigError listing every problem of ``cfg`` (before any compile)."""
    problems = config_problems(
        cfg, device_count=device_count, process_count=process_count, check_mesh=check_mesh
    )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


# -- inputs -----------------------------------------------------------------------


def sanitize_batch(
    batch: dict[str, np.ndarray], policy: str = "mask", *, where: str = "batch"
) -> tuple[dict[str, np.ndarray], int]:
    """Zero (``"mask"``) or reject (``"error"``) non-finite float inputs.

    Returns the batch (float inputs with NaN/Inf replaced by 0 when masking;
    the caller's arrays are not modified) and how many records held them.
    """
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite_inputs={policy!r}; expected one of {NONFINITE_POLICIES}")
    bad_rows = None
    out = dict(batch)
    for key in INPUT_FEATURES:
        x = batch.get(key)
        if x is None:
            continue
        finite = np.isfinite(x)
        if finite.all():
            continue
        rows = ~finite.reshape(len(x), -1).all(axis=1)
        if policy == "error":
            index = batch.get("index", np.arange(len(x)))
            raise NonFiniteInputError(
                f"{where}: {key!r} of record(s) {[int(i) for i in index[rows]]} holds "
                f"{int((~finite).sum())} NaN/Inf values; regenerate those records, or set "
                "--config.data.nonfinite_inputs=mask to zero them and train on"
            )
        out[key] = np.where(finite, x, 0).astype(x.dtype)
        bad_rows = rows if bad_rows is None else bad_rows | rows
    return out, 0 if bad_rows is None else int(bad_rows.sum())


# -- disk -------------------------------------------------------------------------


def checkpoint_bytes(state: Any) -> int:
    """Bytes one checkpoint of ``state`` takes (array payload, no metadata)."""

    def nbytes(x) -> int:
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return int(np.prod(x.shape)) * 8  # a threefry key is two uint32 words
        return int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize

    return sum(nbytes(x) for x in jax.tree.leaves(state))


def check_free_space(workdir: str, state: Any, *, copies: int, min_free_bytes: int = 0) -> int:
    """Fail unless ``workdir`` has room for ``copies`` checkpoints of ``state``
    (plus ``min_free_bytes``); return the estimate in bytes."""
    need = checkpoint_bytes(state) * copies + int(min_free_bytes)
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise InsufficientDiskSpaceError(
            f"work dir {workdir!r} has {free / 2**20:.1f} MiB free; the run keeps up to "
            f"{copies} checkpoints of {checkpoint_bytes(state) / 2**20:.1f} MiB "
            f"(about {need / 2**20:.1f} MiB). Free space or choose another --workdir."
        )
    return need
