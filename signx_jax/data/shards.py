"""Pose shards: write a split as TFRecord shards, read it as a Grain source.

Pose shards and the stage-3 latent cache (README "Design"). A split
``train`` in ``out_dir`` is::

    train-00000-of-00003.tfrecord   TFRecord frames, one tf.train.Example per record
    train-00000-of-00003.tfrecord.index   (offset, length) per record, for random access
    ...
    train.manifest.json             schema version, record kind, counts, sha256 per file

Records are Clip dicts (``signx_jax.schema``) or latent records (see
``records.py``). Every read verifies both TFRecord CRCs; the manifest is
checked when a split is opened. Neither path imports TensorFlow.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from signx_jax import atomic, schema
from signx_jax.data import records as rec
from signx_jax.data import tfrecord
from signx_jax.data.manifest import (  # noqa: F401  (re-exported: the public shard API)
    MANIFEST_FORMAT,
    MANIFEST_FORMAT_VERSION,
    ShardCorruptionError,
    manifest_path,
    read_manifest,
    sha256_file,
    verify_split,
)


def _write_tmp_shards(records, out_dir, split, records_per_shard, pose_dtype):
    """Write shards under temporary names; return (tmp paths, counts, kind, stats)."""
    tmp_paths: list[str] = []
    counts: list[int] = []
    kind = None
    stats = {"num_frames": 0, "max_frames": 0, "with_rgb": 0, "with_gloss_spans": 0}
    writer, offsets, lengths, frames = None, [], [], []

    def close_shard():
        writer.close()
        with open(tmp_paths[-1] + tfrecord.INDEX_SUFFIX, "wb") as f:
            f.write(tfrecord.encode_index(offsets, lengths, frames))
        counts.append(len(offsets))

    try:
        for i, record in enumerate(records):
            where = f"{split} record {i} (clip_id={record.get('clip_id')!r})"
            kind = kind or rec.record_kind(record)
            if rec.record_kind(record) != kind:
                raise ValueError(
                    f"{where}: is a {rec.record_kind(record)} record in a {kind} split"
                )
            payload = rec.encode_record(record, pose_dtype=pose_dtype, where=where)
            if writer is None or len(offsets) == records_per_shard:
                if writer is not None:
                    close_shard()
                tmp_paths.append(os.path.join(out_dir, f".{split}-{len(tmp_paths):05d}.tmp"))
                writer, offsets, lengths, frames = open(tmp_paths[-1], "wb"), [], [], []
            offsets.append(writer.tell())
            lengths.append(len(payload))
            frames.append(_update_stats(stats, record, kind, where))
            writer.write(tfrecord.frame(payload))
        if writer is not None:
            close_shard()
    except BaseException:
        if writer is not None:
            writer.close()
        for path in tmp_paths:  # leave no half-written split behind
            for p in (path, path + tfrecord.INDEX_SUFFIX):
                if os.path.exists(p):
                    os.remove(p)
        raise
    return tmp_paths, counts, kind, stats


def _update_stats(stats: dict, record: dict, kind: str, where: str) -> int:
    """Add ``record`` to the split statistics; return its frame count."""
    frames = len(record["latent"] if kind == rec.KIND_LATENT else record["presence"])
    stats["num_frames"] += frames
    stats["max_frames"] = max(stats["max_frames"], frames)
    stats["with_rgb"] += record.get("rgb") is not None
    stats["with_gloss_spans"] += record.get("gloss_spans") is not None
    # Batches need one frame size / latent width per split: record and enforce it.
    rgb_hw = None if record.get("rgb") is None else list(np.shape(record["rgb"])[1:3])
    latent_dim = int(np.shape(record["latent"])[1]) if kind == rec.KIND_LATENT else None
    for key, value in (("rgb_hw", rgb_hw), ("latent_dim", latent_dim)):
        if value is not None and stats.setdefault(key, value) != value:
            raise ValueError(f"{where}: {key} {value} differs from the split's {stats[key]}")
    return frames


def _remove_stale_shards(out_dir: str, split: str, keep: set[str]) -> None:
    """Delete shards of an earlier write of ``split`` (another shard count)."""
    pattern = re.compile(re.escape(split) + r"-\d{5}-of-\d{5}\.tfrecord(\.index)?")
    for name in os.listdir(out_dir):
        if pattern.fullmatch(name) and name not in keep:
            os.remove(os.path.join(out_dir, name))


def write_split(
    records: Iterable[dict],
    out_dir: str,
    split: str,
    *,
    records_per_shard: int = 256,
    pose_dtype: str = "float16",
    extra_manifest: dict | None = None,
) -> dict:
    """Write ``records`` as the shards of ``split``; return the manifest dict.

    ``pose_dtype`` is the storage dtype of the float payload (``poses`` of a
    clip or ``latent`` of a latent record); reads give float32. The number of
    shards is only known at the end (``records`` may be a generator), so shards
    are written under temporary names, then renamed; the manifest is written
    last (atomically), so a split with a manifest is complete.
    """
    if records_per_shard <= 0:
        raise ValueError(f"records_per_shard must be positive, got {records_per_shard}")
    os.makedirs(out_dir, exist_ok=True)
    tmp_paths, counts, kind, stats = _write_tmp_shards(
        records, out_dir, split, records_per_shard, pose_dtype
    )
    # The old manifest goes before its shards are replaced: a crash below then
    # leaves no manifest (an unfinished split), never one naming other shards.
    if os.path.exists(manifest_path(out_dir, split)):
        os.remove(manifest_path(out_dir, split))
    shards = []
    for i, tmp in enumerate(tmp_paths):
        name = f"{split}-{i:05d}-of-{len(tmp_paths):05d}.tfrecord"
        path = os.path.join(out_dir, name)
        os.replace(tmp, path)
        os.replace(tmp + tfrecord.INDEX_SUFFIX, path + tfrecord.INDEX_SUFFIX)
        shards.append(
            {
                "file": name,
                "index_file": name + tfrecord.INDEX_SUFFIX,
                "num_records": counts[i],
                "num_bytes": os.path.getsize(path),
                "sha256": sha256_file(path),
                "index_sha256": sha256_file(path + tfrecord.INDEX_SUFFIX),
            }
        )
    _remove_stale_shards(out_dir, split, {n for s in shards for n in (s["file"], s["index_file"])})
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "schema_version": schema.SCHEMA_VERSION,
        "split": split,
        "record_kind": kind or rec.KIND_CLIP,
        "pose_dtype": pose_dtype,
        "streams": [list(s) for s in schema.STREAMS],
        "num_records": sum(counts),
        "shards": shards,
        **stats,
        "extra": extra_manifest or {},
    }
    atomic.write_json(manifest_path(out_dir, split), manifest, indent=1, sort_keys=True)
    return manifest


def split_complete(data_dir: str, split: str) -> bool:
    """``split`` of ``data_dir`` opens as a whole: its manifest, and every shard and
    index it names with the recorded sizes and counts (no payload is read)."""
    try:
        open_split(data_dir, split).close()
    except (OSError, ValueError):  # missing, half-written or corrupt (ShardCorruptionError)
        return False
    return True


class PoseShardSource:
    """Grain RandomAccessDataSource over the records of one split.

    ``source[i]`` is the decoded record ``i`` (numpy; poses float32 unless
    ``cast_float32=False``, which keeps the stored dtype for the batcher, and a
    dict of streams unless ``split_streams=False``: one [T, 1959] array). File
    descriptors are opened lazily per process, so the source pickles into
    Grain worker processes. With ``skip_corrupt`` a corrupt record reads as
    ``None`` (Grain's "missing element"), is logged once and counted in
    ``num_corrupt`` (per process: Grain workers keep their own counts).
    """

    def __init__(
        self,
        data_dir: str,
        split: str,
        manifest: dict,
        index: list[np.ndarray],
        *,
        skip_corrupt: bool = False,
        decode_rgb: bool | str = True,
        cast_float32: bool = True,
        split_streams: bool = True,
    ):
        self.data_dir, self.split, self.manifest = data_dir, split, manifest
        self.skip_corrupt, self.decode_rgb = skip_corrupt, decode_rgb
        self.cast_float32, self.split_streams = cast_float32, split_streams
        self._paths = [os.path.join(data_dir, s["file"]) for s in manifest["shards"]]
        self._index = index
        self._starts = np.cumsum([0] + [len(x) for x in index])
        self._fds: dict[int, int] = {}
        self._lock = threading.Lock()
        self.corrupt: set[int] = set()

    @property
    def record_kind(self) -> str:
        return self.manifest["record_kind"]

    @property
    def frame_counts(self) -> np.ndarray:
        """int64 [N]: frames of every record, from the index (no decoding)."""
        return np.concatenate([x[:, 2] for x in self._index]) if self._index else np.zeros(0, int)

    @property
    def num_corrupt(self) -> int:
        """Corrupt records skipped so far by this process (skip_corrupt mode)."""
        return len(self.corrupt)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __repr__(self) -> str:  # Grain uses repr to identify sources in checkpoints
        return (
            f"PoseShardSource(data_dir={self.data_dir!r}, split={self.split!r}, "
            f"num_records={len(self)})"
        )

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fds"], state["_lock"] = {}, None  # reopened in the worker
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def replace(self, **kwargs) -> PoseShardSource:
        """Same split with other options (the keyword arguments of ``__init__``)."""
        opts = {
            "skip_corrupt": self.skip_corrupt,
            "decode_rgb": self.decode_rgb,
            "cast_float32": self.cast_float32,
            "split_streams": self.split_streams,
            **kwargs,
        }
        return PoseShardSource(self.data_dir, self.split, self.manifest, self._index, **opts)

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            with self._lock:
                fd = self._fds.get(shard)
                if fd is None:
                    fd = self._fds[shard] = os.open(self._paths[shard], os.O_RDONLY)
        return fd

    def locate(self, index: int) -> tuple[int, int, int, int]:
        """Record ``index`` -> (shard, record in shard, byte offset, payload length)."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self!r}: record {index} out of range")
        shard = int(np.searchsorted(self._starts, index, side="right") - 1)
        local = index - int(self._starts[shard])
        offset, length, _ = self._index[shard][local]
        return shard, local, int(offset), int(length)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        index = int(index)
        shard, local, offset, length = self.locate(index)
        path = self._paths[shard]
        try:
            payload = tfrecord.read_frame(self._fd(shard), offset, length)
            record = rec.decode_record(
                payload,
                decode_rgb=self.decode_rgb,
                cast_float32=self.cast_float32,
                split_streams=self.split_streams,
            )
        except (ValueError, KeyError, IndexError, TypeError, OSError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            message = (
                f"{path}: record {local} (split index {index}) at byte offset {offset} "
                f"is corrupt: {e}"
            )
            if self.skip_corrupt:
                if index not in self.corrupt:
                    logging.warning("skipping corrupt record: %s", message)
                self.corrupt.add(index)
                return None
            raise ShardCorruptionError(message) from e
        record["index"] = index
        return record

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def open_split(
    data_dir: str,
    split: str,
    *,
    skip_corrupt: bool = False,
    verify_checksums: bool = False,
    decode_rgb: bool | str = True,
) -> PoseShardSource:
    """Open ``split`` of ``data_dir`` as a Grain RandomAccessDataSource.

    Checks the manifest (schema version, shard files present with the recorded
    sizes, per-shard and total record counts match the indices). With
    ``verify_checksums`` also re-hashes every shard (reads all bytes).
    """
    manifest = read_manifest(data_dir, split)
    where = manifest_path(data_dir, split)
    index = []
    for shard in manifest["shards"]:
        path = os.path.join(data_dir, shard["file"])
        if not os.path.exists(path):
            raise FileNotFoundError(f"{where}: shard {path} is missing")
        size = os.path.getsize(path)
        if size != shard["num_bytes"]:
            raise ShardCorruptionError(
                f"{path}: file has {size} bytes, the manifest says {shard['num_bytes']}"
            )
        offsets = tfrecord.read_index(os.path.join(data_dir, shard["index_file"]))
        if len(offsets) != shard["num_records"]:
            raise ShardCorruptionError(
                f"{path}: index lists {len(offsets)} records, manifest says {shard['num_records']}"
            )
        # Every row, not only the last: a corrupt row must not reach os.pread.
        ends = offsets[:, 0] + offsets[:, 1] + tfrecord.HEADER_BYTES + 4
        bad = np.flatnonzero((offsets[:, :2] < 0).any(axis=1) | (ends > size))
        if len(bad):
            i = int(bad[0])
            raise ShardCorruptionError(
                f"{path}: index row {i} (record {i} of the shard) points past the end of "
                f"the file (offset {int(offsets[i, 0])}, length {int(offsets[i, 1])}, "
                f"file {size} bytes)"
            )
        if verify_checksums and sha256_file(path) != shard["sha256"]:
            raise ShardCorruptionError(f"{path}: sha256 differs from {where}")
        index.append(offsets)
    total = sum(len(x) for x in index)
    if total != manifest["num_records"]:
        raise ShardCorruptionError(
            f"{where}: shards hold {total} records, manifest says {manifest['num_records']}"
        )
    return PoseShardSource(
        data_dir, split, manifest, index, skip_corrupt=skip_corrupt, decode_rgb=decode_rgb
    )
