"""Per-stream pose files -> the five [T, dim] streams of paper section 3.1.

Layout under ``--poses_root`` (``<key>`` is the clip id, or the video id for
datasets whose clips are windows of a longer video, WLASL and ASLLRP)::

    <poses_root>/<split>/<key>/<stream>.npy     float [T, dim] or the natural shape
    <poses_root>/<split>/<key>/<stream>.npz     array under key <stream> (or its only array),
                                                optional <stream>_presence bool [T]
    <poses_root>/<split>/<key>.npz              one array per stream name, same rules
    <poses_root>/<split>/<key>/mediapipe.pose   pose-format file (MediaPipe holistic)
    <poses_root>/<split>/<key>.pose             same, as a single file

The ``<split>/`` level is optional (``<poses_root>/<key>/...`` is tried next).
``<stream>`` is one of ``signx_jax.schema.STREAM_NAMES``. Natural shapes,
reshaped to [T, dim]: dwpose [T, 128, 3], smplerx [T, 55, 3] (55 joints x
axis-angle), primedepth and sapiens [T, 24, 24]; mediapipe is [T, 258] (its
parts have different widths). The npz written by ``data_pipelines.extract``
(``mediapipe`` [T, 258] + ``mediapipe_parts`` bool [T, 3]) is read as is.

A frame is present when it is finite and not all zeros (how extractors write
"nothing detected"); non-finite rows are zeroed.

``.pose`` files (pose-format library): the POSE_LANDMARKS (33), LEFT_HAND_LANDMARKS
(21) and RIGHT_HAND_LANDMARKS (21) components of person 0 fill the 258-d
layout. pose-format stores x, y in pixels (x * width, y * height) and the body
visibility as confidence, so x, y are divided by the header's width / height
to get MediaPipe's normalized coordinates back; z is kept as stored.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from data_pipelines.datasets.common import ConversionError
from signx_jax.schema import STREAM_DIMS, STREAM_NAMES

# Shapes besides [dim] a stream's per-frame array may have.
NATURAL_SHAPES: dict[str, tuple[int, ...]] = {
    "dwpose": (128, 3),
    "smplerx": (55, 3),
    "primedepth": (24, 24),
    "sapiens": (24, 24),
}
HOLISTIC_PARTS: tuple[tuple[str, int], ...] = (
    ("POSE_LANDMARKS", 33),
    ("LEFT_HAND_LANDMARKS", 21),
    ("RIGHT_HAND_LANDMARKS", 21),
)
StreamData = tuple[np.ndarray, np.ndarray]  # (float32 [T, dim], bool [T])


def expected_shapes(stream: str) -> str:
    dim = STREAM_DIMS[stream]
    shapes = [f"[T, {dim}]"]
    if stream in NATURAL_SHAPES:
        shapes.append("[T, " + ", ".join(map(str, NATURAL_SHAPES[stream])) + "]")
    return " or ".join(shapes)


def as_stream_array(arr: np.ndarray, stream: str, where: str) -> StreamData:
    """Check and flatten one stream; returns (float32 [T, dim], present [T])."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiub":
        raise ConversionError(f"{where}: {stream} has dtype {arr.dtype}, expected numbers")
    dim = STREAM_DIMS[stream]
    natural = NATURAL_SHAPES.get(stream)
    if arr.ndim == 2 and arr.shape[1] == dim:
        flat = arr
    elif natural is not None and arr.shape[1:] == natural:
        flat = arr.reshape(arr.shape[0], dim)
    else:
        raise ConversionError(
            f"{where}: {stream} has shape {list(arr.shape)}, expected {expected_shapes(stream)}"
        )
    flat = flat.astype(np.float32)
    finite = np.isfinite(flat).all(axis=1)
    flat[~finite] = 0.0
    present = finite & np.any(flat != 0.0, axis=1)
    return flat, present


def _load_presence(z: np.lib.npyio.NpzFile, stream: str, length: int, where: str) -> np.ndarray:
    for key in (f"{stream}_presence", f"{stream}_parts"):
        if key in z.files:
            p = np.asarray(z[key]).astype(bool)
            if p.shape[0] != length or p.ndim not in (1, 2):
                raise ConversionError(
                    f"{where}: {key} has shape {list(p.shape)}, "
                    f"expected [{length}] or [{length}, K]"
                )
            return p if p.ndim == 1 else p.any(axis=1)
    return np.ones(length, bool)


def load_npz(path: Path, streams: tuple[str, ...]) -> dict[str, StreamData]:
    """Streams found in an npz; a single unnamed array counts as ``streams[0]``."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ConversionError(f"{path}: not a readable .npz ({e})") from None
    with z:
        out: dict[str, StreamData] = {}
        for stream in streams:
            key = stream if stream in z.files else None
            if key is None and len(streams) == 1 and len(z.files) == 1:
                key = z.files[0]
            if key is None:
                continue
            arr, present = as_stream_array(z[key], stream, f"{path}[{key}]")
            present &= _load_presence(z, stream, arr.shape[0], str(path))
            out[stream] = (arr, present)
        if len(streams) == 1 and not out:
            raise ConversionError(f"{path}: no array named {streams[0]!r} (has {z.files})")
        return out


def load_npy(path: Path, stream: str) -> StreamData:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ConversionError(f"{path}: not a readable .npy ({e})") from None
    return as_stream_array(arr, stream, str(path))


def read_pose_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """.pose (MediaPipe holistic) -> (float32 [T, 258], bool [T, 3] pose/lh/rh found)."""
    try:
        from pose_format import Pose
    except ImportError:
        raise ConversionError(
            f"{path}: reading .pose files needs `pip install pose-format`"
        ) from None
    try:
        pose = Pose.read(path.read_bytes())
    except Exception as e:  # the library raises assorted struct/index errors
        raise ConversionError(
            f"{path}: not a readable .pose file ({type(e).__name__}: {e})"
        ) from None
    header = pose.header
    names = [c.name for c in header.components]
    missing = [n for n, _ in HOLISTIC_PARTS if n not in names]
    if missing:
        raise ConversionError(
            f"{path}: components {names} lack {missing}; expected a MediaPipe holistic .pose"
        )
    data = np.ma.getdata(pose.body.data).astype(np.float32)  # [T, people, points, dims]
    conf = np.asarray(pose.body.confidence, np.float32)  # [T, people, points]
    if data.ndim != 4 or data.shape[1] == 0:
        raise ConversionError(f"{path}: body has shape {data.shape}, expected [T, people, P, D]")
    data, conf = data[:, 0], conf[:, 0]
    width = float(header.dimensions.width) or 1.0
    height = float(header.dimensions.height) or 1.0
    num_frames = data.shape[0]
    cols, parts = [], []
    for name, count in HOLISTIC_PARTS:
        comp = header.components[names.index(name)]
        if len(comp.points) != count:
            raise ConversionError(f"{path}: {name} has {len(comp.points)} points, expected {count}")
        start = sum(len(c.points) for c in header.components[: names.index(name)])
        xyz = np.zeros((num_frames, count, 3), np.float32)
        fmt = comp.format.upper()
        for axis, letter in enumerate("XYZ"):
            if letter in fmt[: data.shape[-1]]:
                xyz[..., axis] = data[:, start : start + count, fmt.index(letter)]
        xyz[..., 0] /= width
        xyz[..., 1] /= height
        c = conf[:, start : start + count]
        found = (c > 0).any(axis=1)
        xyz[~found] = 0.0
        if name == "POSE_LANDMARKS":  # 4th column: MediaPipe visibility
            xyz = np.concatenate([xyz, np.where(found[:, None], c, 0.0)[..., None]], axis=-1)
        cols.append(xyz.reshape(num_frames, -1))
        parts.append(found)
    return np.concatenate(cols, axis=1), np.stack(parts, axis=1)


def load_pose_stream(path: Path) -> StreamData:
    arr, parts = read_pose_file(path)
    flat, present = as_stream_array(arr, "mediapipe", str(path))
    return flat, present & parts.any(axis=1)


def find_and_load(poses_root: Path, split: str, key: str) -> dict[str, StreamData]:
    """All streams found for one clip / video under poses_root ({} if none)."""
    for base in (poses_root / split, poses_root):
        out: dict[str, StreamData] = {}
        single_npz, single_pose = base / f"{key}.npz", base / f"{key}.pose"
        if single_npz.is_file():
            out.update(load_npz(single_npz, STREAM_NAMES))
        if single_pose.is_file() and "mediapipe" not in out:
            out["mediapipe"] = load_pose_stream(single_pose)
        folder = base / key
        if folder.is_dir():
            for stream in STREAM_NAMES:
                if stream in out:
                    continue
                if (folder / f"{stream}.npy").is_file():
                    out[stream] = load_npy(folder / f"{stream}.npy", stream)
                elif (folder / f"{stream}.npz").is_file():
                    out.update(load_npz(folder / f"{stream}.npz", (stream,)))
                elif stream == "mediapipe" and (folder / "mediapipe.pose").is_file():
                    out[stream] = load_pose_stream(folder / "mediapipe.pose")
        if out:
            lengths = {s: a.shape[0] for s, (a, _) in out.items()}
            if len(set(lengths.values())) != 1:
                raise ConversionError(
                    f"{base / key}: streams disagree on frame count {lengths}, expected one T"
                )
            return out
    return {}
