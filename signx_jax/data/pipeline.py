"""Grain input pipelines over pose shards (README "Design": Grain per process).

Train: ``range(N)[shard::count] -> repeat, a seeded permutation per epoch ->
decode + encode labels -> batch -> pad to a bucket`` as a Grain
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
``lengths``        int32 [B]           frames of the clip
``labels``         int32 [B,L]         gloss ids, PAD padded, no BOS/EOS
``label_lengths``  int32 [B]
``gloss_spans``    int32 [B,L,2]       [start, end) frames per gloss, -1 absent
``targets``        int32 [B,L]         translation ids (only with target_vocab)
``target_lengths`` int32 [B]           (only with target_vocab)
``valid``          bool [B]            False for padding rows / skipped records
``index``          int64 [B]           record index within the split (-1: padding)
=================  ==================  =================================================

A clip is never cut: one longer than the largest configured bucket makes the
iterator add a bucket that holds the source's longest clip (a warning names it;
configure ``data.buckets`` to cover your clips and avoid the extra compile).
Cropping the frames and keeping every gloss would train CTC on glosses the model
cannot see and score a clip on part of it.
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

try:  # float16 -> float32 with F16C; see _copy_rows
    import cv2
except ImportError:  # pragma: no cover - opencv-python-headless is a requirement
    cv2 = None

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


class _EpochShuffle:
    """(stream position k, k mod N) -> record index; Grain ``map_with_index``.

    Epoch ``k // N`` visits ``ids`` in a permutation seeded by (seed, epoch),
    made once per epoch. Grain's ``shuffle()`` cycle-walks a 2**16-element
    Feistel permutation for every index instead: 0.4 ms per record for a
    128-record split, 0.13 ms at 600, more than reading and decoding it.
    """

    def __init__(self, ids: np.ndarray, seed: int):
        if not 0 <= seed < 2**32:  # the range Grain's shuffle accepted
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        self.ids, self.seed = np.asarray(ids), int(seed)
        self._orders: dict[int, np.ndarray] = {}  # the last two epochs (threads straddle one)

    def __call__(self, k: int, position: int) -> int:
        epoch = int(k) // len(self.ids)
        order = self._orders.get(epoch)
        if order is None:
            rng = np.random.default_rng((self.seed, epoch))
            order = self.ids[rng.permutation(len(self.ids))]
            kept = {e: o for e, o in self._orders.items() if e >= epoch - 1}
            self._orders = {**kept, epoch: order}  # rebinding is atomic across threads
        return int(order[position])


class _Example:
    """Record index -> one example dict (Grain map; picklable for workers)."""

    def __init__(self, source, vocab, target_vocab, features, max_label_len):
        self.source, self.vocab, self.target_vocab = source, vocab, target_vocab
        self.features, self.max_label_len = tuple(features), max_label_len
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
        t = len(record["latent"] if is_latent else record["presence"])
        ex: dict[str, Any] = {"index": index, "length": t}
        if not is_latent:
            ex["presence"] = record["presence"][:t]
        if "poses" in self.features:
            poses = record["poses"]  # [T, 1959] from shards; a dict of streams in memory
            ex["poses"] = (schema.concat_poses(record) if isinstance(poses, dict) else poses)[:t]
        if "rgb" in self.features:
            ex["rgb"] = record["rgb"][:t]
        if "latent" in self.features:
            ex["latent"] = record["latent"][:t]
        ex["labels"] = self._ids(self.vocab, record["gloss"], "gloss", index)
        spans = record.get("gloss_spans")
        if spans is not None:
            ex["gloss_spans"] = spans[: self.max_label_len]
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
        for key in ("presence", "poses", "rgb", "latent"):
            if key in ex:
                out[key] = ex[key][start:end]
        if "gloss_spans" in ex:
            out["gloss_spans"] = np.clip(ex["gloss_spans"] - start, 0, self.window)
        return out


def _copy_rows(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``; a 2-D float16 -> float32 copy goes through OpenCV.

    numpy casts float16 one value at a time (~2 ns each without AVX-512 loops),
    which made the cast most of the batching time; OpenCV converts with F16C,
    3x faster, bit-exact (NaN stays NaN), into ``dst`` in place.
    """
    if cv2 is not None and src.ndim == 2 and src.dtype == np.float16 and dst.dtype == np.float32:
        out = cv2.multiply(src, 1.0, dst=dst, dtype=cv2.CV_32F)
        if out is not dst:  # OpenCV allocated instead of writing in place
            dst[...] = out
    else:
        dst[...] = src


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
        }
        if self.dims["kind"] == "clip":
            batch["presence"] = np.zeros((b, t, len(schema.STREAMS)), bool)
        frame_keys = [k for k in FEATURES if k in self.features]
        for key in frame_keys:  # tens of MB: empty, each byte written once below
            per_frame = {
                "poses": (schema.POSE_DIM,),
                "rgb": (*(self.dims["rgb_hw"] or ()), 3),
                "latent": (self.dims["latent_dim"],),
            }[key]
            batch[key] = np.empty((b, t, *per_frame), np.uint8 if key == "rgb" else np.float32)
        if self.with_targets:
            batch["targets"] = np.full((b, n_lab), schema.PAD_ID, np.int32)
            batch["target_lengths"] = np.zeros(b, np.int32)
        # A short last eval batch has fewer examples than rows: pad with None rows.
        for row, ex in enumerate([*examples, *[None] * (b - len(examples))]):
            n = 0 if ex is None else ex["length"]
            for key in frame_keys:
                if n:
                    _copy_rows(batch[key][row, :n], ex[key])
                batch[key][row, n:] = 0
            if ex is None:
                continue
            batch["frame_mask"][row, :n] = True
            batch["lengths"][row] = n
            batch["valid"][row] = True
            batch["index"][row] = ex["index"]
            batch["labels"][row, : len(ex["labels"])] = ex["labels"]
            batch["label_lengths"][row] = len(ex["labels"])
            if "gloss_spans" in ex:
                batch["gloss_spans"][row, : len(ex["gloss_spans"])] = ex["gloss_spans"]
            if "presence" in ex:
                batch["presence"][row, :n] = ex["presence"]
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


def frame_counts(source) -> np.ndarray:
    """Frames of every record (``source.frame_counts`` where the source has it, from its
    index; else by reading the records; an unreadable record counts 0)."""
    counts = getattr(source, "frame_counts", None)
    if counts is not None:
        return np.asarray(counts)
    records = (source[i] for i in range(len(source)))
    return np.array([0 if r is None else len(r.get("latent", r.get("presence"))) for r in records])


def covering_buckets(source, buckets: Sequence[int]) -> tuple[int, ...]:
    """``buckets``, plus one holding the longest clip of ``source`` (a multiple of 32
    frames) if it is longer than all of them (module docstring)."""
    buckets = tuple(sorted(int(x) for x in buckets))
    counts = frame_counts(source)
    longest = int(counts.max()) if len(counts) else 0
    if longest <= buckets[-1]:
        return buckets
    extra = -(-longest // 32) * 32
    if (repr(source), extra) not in _warned_buckets:
        _warned_buckets.add((repr(source), extra))
        _log.warning(
            "%r: %d of %d clips are longer than the largest bucket %d (up to %d frames); "
            "they go in an extra bucket of %d frames (set data.buckets to cover them)",
            source, int(np.sum(counts > buckets[-1])), len(counts), buckets[-1], longest, extra,
        )  # fmt: skip
    return (*buckets, extra)


_warned_buckets: set[tuple[str, int]] = set()


def _prepare(source, vocab, target_vocab, features, buckets, max_label_len, batch_size):
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
        # Skip PNG decoding nobody uses, decode RGB frames only once batched (a
        # training window decodes its frames, not the clip's); poses stay one
        # stored-dtype [T, 1959] array, cast to float32 once while batching.
        source = source.replace(
            decode_rgb="lazy" if "rgb" in features else False,
            cast_float32=False,
            split_streams=False,
        )
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
    example = _Example(source, vocab, target_vocab, features, max_label_len)
    buckets = covering_buckets(source, buckets)
    collate = _Collate(batch_size, buckets, features, max_label_len, dims, target_vocab is not None)
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
    length_grouping: int = 1,
    window: int | None = None,
    read_threads: int = 4,
    prefetch_batches: int = 8,
) -> grain.DatasetIterator:
    """Endless shuffled batches of this process's records; checkpointable.

    ``source``: a PoseShardSource (or any sequence of records). Shard defaults
    to ``jax.process_index()`` of ``jax.process_count()``. The iterator has
    ``get_state()`` / ``set_state()``; batch k depends only on (seed, shard, k).
    ``length_grouping=K > 1`` sorts each window of K batches' clips by frame
    count (from ``source.frame_counts``) before cutting it into batches, and
    yields those K batches in a seeded order: far less padding, same epochs.
    ``window=W`` trains on a seeded random W-frame slice of each longer clip
    (frame-level objectives only; not with length_grouping).
    """
    shard_index, shard_count = _process_shard(shard_index, shard_count)
    source, example, collate = _prepare(
        source, vocab, target_vocab, features, buckets, max_label_len, batch_size
    )
    records = np.arange(len(source))[shard_index::shard_count]
    if len(records) == 0:
        raise ValueError(f"{source!r}: shard {shard_index}/{shard_count} has no records")
    shuffle = _EpochShuffle(records, seed)
    ids = grain.MapDataset.range(len(records)).repeat().map_with_index(shuffle)
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
    read_threads: int = 4,
    prefetch_batches: int = 8,
) -> grain.DatasetIterator:
    """One ordered pass over records ``shard_index::shard_count``.

    Every process yields ``ceil(ceil(N / shard_count) / batch_size)`` batches;
    rows past the end of a shard have ``valid=False`` and ``index=-1``.
    """
    shard_index, shard_count = _process_shard(shard_index, shard_count)
    source, example, collate = _prepare(
        source, vocab, target_vocab, features, buckets, max_label_len, batch_size
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
