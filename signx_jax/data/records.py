"""Clip / latent record <-> tf.train.Example features (README "Design").

Every array is stored as three features ``name`` (raw little-endian bytes),
``name/dtype`` (numpy dtype name) and ``name/shape`` (int64 list), so a plain
``tf.io.parse_single_example`` + ``tf.io.decode_raw`` can read it. Layout:

==================  ==========================================================
feature             content
==================  ==========================================================
``kind``            b"clip" or b"latent"
``clip_id`` ...     ``dataset``, ``signer``, ``gloss``, ``translation``: UTF-8
``fps``             float list [1] (optional for latent records)
``poses``           [T, 1959] in the split's pose dtype, streams in STREAMS order
``presence``        [T, 5] bool (stored as one byte each)
``rgb``             one PNG per frame (bytes list), ``rgb/shape`` = [T, H, W, 3]
``gloss_spans``     [N, 2] int32, absent when the clip has no gloss timings
``latent``          [T, D] latent record payload (stored float16 or float32)
==================  ==========================================================

Decoding returns numpy arrays: poses as a dict of float32 stream views of one
[T, 1959] array (one cast, no per-stream copies), latent as float32. The
batcher asks for the stored [T, 1959] array itself (``split_streams=False``,
``cast_float32=False``) and casts it once, contiguously, into the batch, and
for RGB as ``PngFrames`` (``decode_rgb="lazy"``): a Video2Pose batch of random
32-frame windows then decodes those frames only, not whole clips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from signx_jax import schema
from signx_jax.data.example_proto import decode_example, encode_example
from signx_jax.data.png import decode_png, encode_png

KIND_CLIP, KIND_LATENT = "clip", "latent"
TEXT_FIELDS = ("clip_id", "dataset", "signer", "gloss", "translation")
FLOAT_DTYPES = ("float16", "float32")


def record_kind(record: dict[str, Any]) -> str:
    """'latent' when the record carries a latent sequence, else 'clip'."""
    return KIND_LATENT if "latent" in record else KIND_CLIP


def _put_array(features: dict, name: str, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    features[name] = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    features[f"{name}/dtype"] = array.dtype.name.encode()
    features[f"{name}/shape"] = np.asarray(array.shape, np.int64)


def _get_array(features: dict, name: str) -> np.ndarray:
    (raw,) = features[name]
    (dtype,) = features[f"{name}/dtype"]
    dtype = np.dtype(bytes(dtype).decode()).newbyteorder("<")
    shape = tuple(int(s) for s in features[f"{name}/shape"])
    return np.frombuffer(raw, dtype).reshape(shape)


def _unpng(data: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    frame = decode_png(data)
    if frame.shape != shape:
        raise ValueError(f"PNG frame has shape {frame.shape}, expected {shape}")
    return frame


class PngFrames:
    """A clip's RGB frames [T, H, W, 3] uint8, decoded when read as an array.

    Slicing (``frames[a:b]``) keeps it lazy; ``np.asarray(frames)`` (or numpy
    assignment into a batch) decodes the frames it holds, no others.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, pngs, frame_shape: tuple[int, ...]):
        self._pngs, self._frame_shape = list(pngs), tuple(frame_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._pngs), *self._frame_shape)

    def __len__(self) -> int:
        return len(self._pngs)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return PngFrames(self._pngs[key], self._frame_shape)
        return _unpng(self._pngs[key], self._frame_shape)

    def __array__(self, dtype=None, copy=None):  # noqa: ARG002 (always a new array)
        out = np.empty(self.shape, np.uint8)
        for i, png in enumerate(self._pngs):
            out[i] = _unpng(png, self._frame_shape)
        return out if dtype is None else out.astype(dtype)


def encode_record(record: dict[str, Any], *, pose_dtype: str = "float16", where: str) -> bytes:
    """Serialize a Clip or latent record (see module doc) to tf.train.Example bytes."""
    if pose_dtype not in FLOAT_DTYPES:
        raise ValueError(f"pose_dtype must be one of {FLOAT_DTYPES}, got {pose_dtype!r}")
    kind = record_kind(record)
    features: dict[str, Any] = {"kind": kind.encode()}
    for key in TEXT_FIELDS:
        value = record.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"{where}: {key!r} must be a str, got {type(value).__name__}")
        features[key] = value.encode("utf-8")
    if record.get("fps") is not None:
        features["fps"] = np.asarray([record["fps"]], np.float32)
    if kind == KIND_CLIP:
        schema.validate_clip(record, where)
        _put_array(features, "poses", schema.concat_poses(record).astype(pose_dtype))
        _put_array(features, "presence", np.asarray(record["presence"], bool))
        if record.get("rgb") is not None:
            rgb = np.asarray(record["rgb"])
            if rgb.dtype != np.uint8:
                raise ValueError(f"{where}: rgb must be uint8, got {rgb.dtype}")
            features["rgb"] = [encode_png(f) for f in rgb]
            features["rgb/shape"] = np.asarray(rgb.shape, np.int64)
    else:
        latent = np.asarray(record["latent"])
        if latent.ndim != 2 or latent.shape[0] == 0:
            raise ValueError(f"{where}: latent has shape {latent.shape}, expected [T>0, D]")
        _put_array(features, "latent", latent.astype(pose_dtype))
    if record.get("gloss_spans") is not None:
        spans = np.asarray(record["gloss_spans"], np.int32)
        n_gloss = len(record.get("gloss", "").split())
        if spans.shape != (n_gloss, 2):
            raise ValueError(
                f"{where}: gloss_spans has shape {spans.shape}, expected ({n_gloss}, 2)"
            )
        _put_array(features, "gloss_spans", spans)
    return encode_example(features)


def decode_record(
    payload: bytes | memoryview,
    *,
    decode_rgb: bool | str = True,
    cast_float32: bool = True,
    split_streams: bool = True,
) -> dict[str, Any]:
    """tf.train.Example bytes -> record dict of numpy arrays (see module doc).

    ``cast_float32=False`` leaves poses / latent in their stored dtype
    (read-only views of ``payload``), for the batcher, which casts while it
    copies into the batch (one pass over the data instead of two).
    ``decode_rgb="lazy"`` gives ``rgb`` as ``PngFrames`` (decoded when read).
    ``split_streams=False`` gives ``poses`` as the one [T, 1959] array (streams
    in STREAMS order) instead of a dict of stream views.
    Raises ValueError / KeyError on malformed content; callers add file context.
    """
    features = decode_example(payload, skip=() if decode_rgb else ("rgb",))
    kind = bytes(features["kind"][0]).decode()
    out: dict[str, Any] = {k: bytes(features[k][0]).decode("utf-8") for k in TEXT_FIELDS}
    if "fps" in features:
        out["fps"] = float(features["fps"][0])
    if kind == KIND_CLIP:
        poses = _get_array(features, "poses")
        if cast_float32:
            poses = poses.astype(np.float32)
        if poses.ndim != 2 or poses.shape[1] != schema.POSE_DIM:
            raise ValueError(f"poses has shape {poses.shape}, expected [T, {schema.POSE_DIM}]")
        if split_streams:
            offsets = schema.stream_offsets()
            out["poses"] = {name: poses[:, a:b] for name, (a, b) in offsets.items()}
        else:
            out["poses"] = poses
        out["presence"] = _get_array(features, "presence").astype(bool)
        if "rgb" in features and decode_rgb:
            shape = tuple(int(s) for s in features["rgb/shape"])
            frames = features["rgb"]
            if len(frames) != shape[0]:
                raise ValueError(f"rgb holds {len(frames)} frames, shape says {shape[0]}")
            out["rgb"] = PngFrames(frames, shape[1:])
            if decode_rgb != "lazy":
                out["rgb"] = np.asarray(out["rgb"])
    elif kind == KIND_LATENT:
        out["latent"] = _get_array(features, "latent")
        if cast_float32:
            out["latent"] = out["latent"].astype(np.float32)
    else:
        raise ValueError(f"unknown record kind {kind!r}")
    if "gloss_spans" in features:
        out["gloss_spans"] = _get_array(features, "gloss_spans").astype(np.int32)
    return out
