"""Grain input pipelines over pose shards (SPEC section 8: Grain per process).

Train: ``range(N)[shard::count] -> shuffle(seed, reshuffled per epoch) ->
repeat -> decode + encode labels -> batch -> pad to a bucket`` as a Grain
``MapDataset``; its iterator's ``get_state()`` is a few integers, which Orbax
saves with the train state (``grain.checkpoint.CheckpointSave(iterator)``).
Optional length grouping sorts windows of K batches by frame count (read from
the shard index, not decoded) to cut padding. Eval: one deterministic pass
over this process's records, every process yielding the same number of
batches (padding rows have ``valid=False``) so multi-host eval never hangs.

Batch keys (numpy, B = batch size, T = a bucket, L = max_label_len):

=================  ==================  =================================================
``poses``          float32 [B,T,1959]  feature "poses"; streams in schema order
``presence``       bool [B,T,5]        clip records
``rgb``            uint8 [B,T,H,W,3]   feature "rgb"
``latent``         float32 [B,T,D]     feature "latent" (latent records)
``frame_mask``     bool [B,T]          frame t < length
``lengths``        int32 [B]           frames after cropping to the last bucket
``labels``         int32 [B,L]         gloss ids, PAD padded, no BOS/EOS
``label_lengths``  int32 [B]
``gloss_spans``    int32 [B,L,2]       [start, end) per gloss (clipped to the crop), -1 absent
``targets``        int32 [B,L]         translation ids (only with target_vocab)
``target_lengths`` int32 [B]           (only with target_vocab)
``valid``          bool [B]            False for padding rows / skipped records
``index``          int64 [B]           record index within the split (-1: padding)
``cropped``        bool [B]            clip was longer than the last bucket
=================  ==================  =================================================
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from signx_jax import schema
from signx_jax.data.vocab import Vocabulary

FEATURES = ("poses", "rgb", "latent")
_log = logging.getLogger(__name__)
_MAX_WARNINGS = 10  # per process: a too-small max_label_len must not flood the log


def _process_shard(shard_index: int | None, shard_count: int | None) -> tuple[int, int]:
    if shard_index is None and shard_count is None:
        import jax  # only when the caller did not say which shard it is

        return jax.process_index(), jax.process_count()
    if shard_index is None or shard_count is None:
        raise ValueError("give both shard_index and shard_count, or neither")
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} not in [0, {shard_count})")
    return shard_index, shard_count


def _ensure_absl_flags_parsed() -> None:
    """Grain workers read absl flags; outside ``absl.app.run`` (tests, Colab) they
    are unparsed and the first worker dies, so accept the defaults here."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _first_record(source) -> dict:
    for i in range(len(source)):
        record = source[i]
        if record is not None:
            return record
    raise ValueError(f"{source!r}: no readable record")


class _Example:
    """Record index -> one example dict (Grain map; picklable for workers)."""

    def __init__(self, source, vocab, target_vocab, features, max_label_len, max_frames, crop):
        self.source, self.vocab, self.target_vocab = source, vocab, target_vocab
        self.features, self.max_label_len = tuple(features), max_label_len
        self.max_frames, self.crop = max_frames, crop
        self.num_truncated = 0  # label sequences cut to max_label_len (this process)

    def _ids(self, vocab: Vocabulary, text: str, what: str, index: int) -> np.ndarray:
        ids = vocab.encode(text)
        if len(ids) > self.max_label_len:
            self.num_truncated += 1
        if len(ids) > self.max_label_len and self.num_truncated <= _MAX_WARNINGS:
            _log.warning(
                "%r record %d: %d %s tokens truncated to max_label_len=%d",
                self.source,
                index,
                len(ids),
                what,
                self.max_label_len,
            )
        return np.asarray(ids[: self.max_label_len], np.int32)

    def __call__(self, index: int) -> dict[str, Any] | None:
        if index >= len(self.source):  # eval padding slot
            return None
        record = self.source[index]
        if record is None:  # corrupt record skipped by the source
            return None
        is_latent = "latent" in record
        length = len(record["latent"] if is_latent else record["presence"])
        cropped = length > self.max_frames
        if cropped and not self.crop:
            raise ValueError(
                f"{self.source!r} record {index} (clip_id={record.get('clip_id')!r}): "
                f"{length} frames exceed the largest bucket {self.max_frames}"
            )
        t = min(length, self.max_frames)
        ex: dict[str, Any] = {"index": index, "length": t, "cropped": cropped}
        if not is_latent:
            ex["presence"] = record["presence"][:t]
        if "poses" in self.features:
            ex["poses"] = [record["poses"][name][:t] for name in schema.STREAM_NAMES]
        if "rgb" in self.features:
            ex["rgb"] = record["rgb"][:t]
        if "latent" in self.features:
            ex["latent"] = record["latent"][:t]
        ex["labels"] = self._ids(self.vocab, record["gloss"], "gloss", index)
        spans = record.get("gloss_spans")
        if spans is not None:
            ex["gloss_spans"] = np.minimum(spans[: self.max_label_len], t)
        if self.target_vocab is not None:
            ex["targets"] = self._ids(self.target_vocab, record["translation"], "target", index)
        return ex


class _RandomWindow:
    """A random ``window``-frame slice of each longer example (Grain random_map).

    For frame-level objectives (Video2Pose regression): the labels still name
    the whole clip, so never use it for sequence recognition.
    """

    def __init__(self, window: int):
        self.window = int(window)

    def __call__(self, ex: dict[str, Any] | None, rng: np.random.Generator):
        if ex is None or ex["length"] <= self.window:
            return ex
        start = int(rng.integers(0, ex["length"] - self.window + 1))
        end = start + self.window
        out = dict(ex, length=self.window)
        for key in ("presence", "rgb", "latent"):
            if key in ex:
                out[key] = ex[key][start:end]
        if "poses" in ex:
            out["poses"] = [p[start:end] for p in ex["poses"]]
        if "gloss_spans" in ex:
            out["gloss_spans"] = np.clip(ex["gloss_spans"] - start, 0, self.window)
        return out


class _Collate:
    """List of examples (None = padding row) -> one batch padded to a bucket."""

    def __init__(self, batch_size, buckets, features, max_label_len, dims, with_targets):
        self.batch_size, self.buckets = batch_size, tuple(sorted(buckets))
        self.features, self.max_label_len = tuple(features), max_label_len
        self.dims, self.with_targets = dims, with_targets

    def __call__(self, examples: Sequence[dict | None]) -> dict[str, np.ndarray]:
        b, n_lab = self.batch_size, self.max_label_len
        longest = max((ex["length"] for ex in examples if ex is not None), default=0)
        t = self.buckets[bisect.bisect_left(self.buckets, longest)]
        batch = {
            "frame_mask": np.zeros((b, t), bool),
            "lengths": np.zeros(b, np.int32),
            "labels": np.full((b, n_lab), schema.PAD_ID, np.int32),
            "label_lengths": np.zeros(b, np.int32),
            "gloss_spans": np.full((b, n_lab, 2), -1, np.int32),
            "valid": np.zeros(b, bool),
            "index": np.full(b, -1, np.int64),
            "cropped": np.zeros(b, bool),
        }
        if self.dims["kind"] == "clip":
            batch["presence"] = np.zeros((b, t, len(schema.STREAMS)), bool)
        if "poses" in self.features:
            batch["poses"] = np.zeros((b, t, schema.POSE_DIM), np.float32)
        if "rgb" in self.features:
            batch["rgb"] = np.zeros((b, t, *self.dims["rgb_hw"], 3), np.uint8)
        if "latent" in self.features:
            batch["latent"] = np.zeros((b, t, self.dims["latent_dim"]), np.float32)
        if self.with_targets:
            batch["targets"] = np.full((b, n_lab), schema.PAD_ID, np.int32)
            batch["target_lengths"] = np.zeros(b, np.int32)
        offsets = list(schema.stream_offsets().values())
        for row, ex in enumerate(examples):
            if ex is None:
                continue
            n = ex["length"]
            batch["frame_mask"][row, :n] = True
            batch["lengths"][row] = n
            batch["valid"][row] = True
            batch["index"][row] = ex["index"]
            batch["cropped"][row] = ex["cropped"]
            batch["labels"][row, : len(ex["labels"])] = ex["labels"]
            batch["label_lengths"][row] = len(ex["labels"])
            if "gloss_spans" in ex:
                batch["gloss_spans"][row, : len(ex["gloss_spans"])] = ex["gloss_spans"]
            if "presence" in ex:
                batch["presence"][row, :n] = ex["presence"]
            if "poses" in ex:
                for (a, z), stream in zip(offsets, ex["poses"], strict=True):
                    batch["poses"][row, :n, a:z] = stream
            for key in ("rgb", "latent"):
                if key in ex:
                    batch[key][row, :n] = ex[key]
            if self.with_targets:
                batch["targets"][row, : len(ex["targets"])] = ex["targets"]
                batch["target_lengths"][row] = len(ex["targets"])
        return batch


class _LengthGroupedBatch:
    """Batch number -> the record indices of that batch under length grouping."""

    def __init__(self, windows, group: int, batch_size: int, frame_counts, seed: int):
        self.windows, self.group, self.batch_size = windows, group, batch_size
        self.frame_counts, self.seed = np.asarray(frame_counts), seed

    def __call__(self, batch_number: int) -> np.ndarray:
        window, j = divmod(int(batch_number), self.group)
        indices = np.asarray(self.windows[window])  # B * K shuffled record indices
        by_length = indices[np.argsort(self.frame_counts[indices], kind="stable")]
        # Shuffle which length slice comes first, so batch lengths do not ramp up.
        slot = np.random.default_rng((self.seed, window)).permutation(self.group)[j]
        return by_length[slot * self.batch_size : (slot + 1) * self.batch_size]


class _LoadBatch:
    """Record indices -> one collated batch."""

    def __init__(self, example: _Example, collate: _Collate):
        self.example, self.collate = example, collate

    def __call__(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.collate([self.example(int(i)) for i in indices])


def _prepare(source, vocab, target_vocab, features, buckets, max_label_len, batch_size, crop):
    """Shared checks; returns the (possibly lighter) source, example fn and collate fn."""
    features = tuple(features)
    unknown = set(features) - set(FEATURES)
    if unknown or not features:
        raise ValueError(f"features must be a non-empty subset of {FEATURES}, got {features}")
    if not buckets or any(int(x) <= 0 for x in buckets):
        raise ValueError(f"buckets must be positive frame counts, got {buckets}")
    if batch_size <= 0 or max_label_len <= 0:
        raise ValueError(f"batch_size {batch_size} and max_label_len {max_label_len} must be > 0")
    if hasattr(source, "replace"):
        # Skip PNG decoding nobody uses; cast float16 -> float32 while batching.
        source = source.replace(decode_rgb="rgb" in features, cast_float32=False)
    manifest = getattr(source, "manifest", None)
    if manifest is not None:
        dims = {k: manifest.get(k) for k in ("rgb_hw", "latent_dim")}
        dims["kind"] = manifest["record_kind"]
    else:  # a plain sequence of records (tests, in-memory data)
        first = _first_record(source)
        dims = {"kind": "latent" if "latent" in first else "clip"}
        dims["rgb_hw"] = list(np.shape(first["rgb"])[1:3]) if "rgb" in first else None
        dims["latent_dim"] = np.shape(first["latent"])[1] if "latent" in first else None
    need = {"poses": "clip", "rgb": "clip", "latent": "latent"}
    for feature in features:
        if need[feature] != dims["kind"]:
            raise ValueError(
                f"{source!r}: feature {feature!r} needs {need[feature]} records, "
                f"the split holds {dims['kind']} records"
            )
        if feature == "rgb" and not dims["rgb_hw"]:
            raise ValueError(f"{source!r}: feature 'rgb' requested but the clips have no rgb")
    max_frames = max(int(x) for x in buckets)
    example = _Example(source, vocab, target_vocab, features, max_label_len, max_frames, crop)
    collate = _Collate(
        batch_size,
        [int(x) for x in buckets],
        features,
        max_label_len,
        dims,
        target_vocab is not None,
    )
    return source, example, collate


def make_train_iterator(
    source,
    vocab: Vocabulary,
    *,
    batch_size: int,
    buckets: Sequence[int],
    seed: int,
    features: Sequence[str] = ("poses",),
    max_label_len: int,
    shard_index: int | None = None,
    shard_count: int | None = None,
    worker_count: int = 0,
    target_vocab: Vocabulary | None = None,
    crop_long: bool = True,
    length_grouping: int = 1,
    window: int | None = None,
    read_threads: int = 4,
    prefetch_batches: int = 8,
) -> grain.DatasetIterator:
    """Endless shuffled batches of this process's records; checkpointable.

    ``source``: a PoseShardSource (or any sequence of records). Shard defaults
    to ``jax.process_index()`` of ``jax.process_count()``. The iterator has
    ``get_state()`` / ``set_state()``; batch k depends only on (seed, shard, k).
    ``crop_long=False`` makes a clip longer than the largest bucket an error.
    ``length_grouping=K > 1`` sorts each window of K batches' clips by frame
    count (from ``source.frame_counts``) before cutting it into batches, and
    yields those K batches in a seeded order: far less padding, same epochs.
    ``window=W`` trains on a seeded random W-frame slice of each longer clip
    (frame-level objectives only; not with length_grouping).
    """
    shard_index, shard_count = _process_shard(shard_index, shard_count)
    source, example, collate = _prepare(
        source, vocab, target_vocab, features, buckets, max_label_len, batch_size, crop_long
    )
    ids = grain.MapDataset.range(len(source))[shard_index::shard_count]
    if len(ids) == 0:
        raise ValueError(f"{source!r}: shard {shard_index}/{shard_count} has no records")
    ids = ids.seed(seed).shuffle().repeat()
    if length_grouping > 1:
        frame_counts = getattr(source, "frame_counts", None)
        if frame_counts is None:
            raise ValueError(f"{source!r}: length_grouping needs a source with frame_counts")
        windows = ids.batch(batch_size * length_grouping, drop_remainder=True)
        group = _LengthGroupedBatch(windows, length_grouping, batch_size, frame_counts, seed)
        ds = grain.MapDataset.range(len(windows) * length_grouping).map(group)
        ds = ds.map(_LoadBatch(example, collate))
    else:
        ds = ids.map(example)
        if window:
            ds = ds.random_map(_RandomWindow(window), seed=seed)
        ds = ds.batch(batch_size, drop_remainder=True, batch_fn=collate)
    options = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=prefetch_batches)
    it_ds = ds.to_iter_dataset(options)
    if worker_count > 0:
        _ensure_absl_flags_parsed()
        it_ds = it_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
    return iter(it_ds)


def make_eval_iterator(
    source,
    vocab: Vocabulary,
    *,
    batch_size: int,
    buckets: Sequence[int],
    features: Sequence[str] = ("poses",),
    max_label_len: int,
    shard_index: int | None = None,
    shard_count: int | None = None,
    target_vocab: Vocabulary | None = None,
    crop_long: bool = True,
    read_threads: int = 4,
    prefetch_batches: int = 8,
) -> grain.DatasetIterator:
    """One ordered pass over records ``shard_index::shard_count``.

    Every process yields ``ceil(ceil(N / shard_count) / batch_size)`` batches;
    rows past the end of a shard have ``valid=False`` and ``index=-1``.
    """
    shard_index, shard_count = _process_shard(shard_index, shard_count)
    source, example, collate = _prepare(
        source, vocab, target_vocab, features, buckets, max_label_len, batch_size, crop_long
    )
    per_shard = math.ceil(len(source) / shard_count)
    # Slots >= len(source) map to None, i.e. padding rows.
    ds = grain.MapDataset.range(per_shard * shard_count)[shard_index::shard_count]
    ds = ds.map(example).batch(batch_size, drop_remainder=False, batch_fn=collate)
    options = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=prefetch_batches)
    return iter(ds.to_iter_dataset(options))


def num_eval_batches(num_records: int, batch_size: int, shard_count: int) -> int:
    """Batches each process yields in one eval pass (same on every process)."""
    return math.ceil(math.ceil(num_records / shard_count) / batch_size)
