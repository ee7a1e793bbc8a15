"""Grain pipelines: determinism, resume, per-process shards, eval pass, buckets."""

import itertools

import numpy as np
import pytest

from signx_jax import schema
from signx_jax.data import pipeline, shards
from signx_jax.data.vocab import Vocabulary
from tests.data.factory import make_clips, make_latent

BUCKETS = (8, 16, 32)
N = 20


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    clips = make_clips(N, seed=3)
    clips[4] = make_clips(1, seed=9, frames=30)[0]  # one clip longer than bucket 16
    out = str(tmp_path_factory.mktemp("shards"))
    shards.write_split(clips, out, "train", records_per_shard=6, pose_dtype="float32")
    return clips, shards.open_split(out, "train"), Vocabulary.build(c["gloss"] for c in clips)


def _train(split, **kw):
    _, source, vocab = split
    args = dict(batch_size=5, buckets=BUCKETS, seed=0, max_label_len=6, shard_index=0,
                shard_count=1, read_threads=1)  # fmt: skip
    return pipeline.make_train_iterator(source, vocab, **{**args, **kw})


def _indices(iterator, num_batches):
    return [next(iterator)["index"].tolist() for _ in range(num_batches)]


def test_train_order_is_deterministic_per_seed(split):
    a, b = _indices(_train(split), 8), _indices(_train(split), 8)  # two epochs
    assert a == b
    assert _indices(_train(split, seed=1), 8) != a
    # Each epoch is a permutation, and consecutive epochs are shuffled differently.
    flat = sum(a, [])
    assert sorted(flat[:N]) == sorted(flat[N:]) == list(range(N))
    assert flat[:N] != flat[N:]


def test_train_resume_from_state_equals_uninterrupted(split):
    reference = _train(split)
    expected = _indices(reference, 7)
    it = _train(split)
    _indices(it, 3)
    state = it.get_state()
    resumed = _train(split)
    resumed.set_state(state)
    assert _indices(resumed, 4) == expected[3:]


def test_two_processes_are_disjoint_and_complete_over_an_epoch(split):
    per_process = []
    for shard in range(2):
        it = _train(split, shard_index=shard, shard_count=2)
        epoch = sum(_indices(it, 2), [])  # 10 records per process = one epoch
        assert len(set(epoch)) == 10
        per_process.append(set(epoch))
    assert not per_process[0] & per_process[1]
    assert per_process[0] | per_process[1] == set(range(N))


def test_batch_content_and_bucket_shapes(split):
    clips, _, vocab = split
    it = _train(split, batch_size=2, features=("poses", "rgb"), target_vocab=vocab)
    seen_t = set()
    # Three epochs: a batch fits bucket 16 only when both clips are short (5 of 20).
    for batch in itertools.islice(it, 30):
        t = batch["poses"].shape[1]
        seen_t.add(t)
        assert t in BUCKETS and batch["rgb"].shape == (2, t, 16, 16, 3)
        assert t == min(b for b in BUCKETS if b >= batch["lengths"].max())
        assert batch["valid"].all()
        for row, idx in enumerate(batch["index"]):
            clip, n = clips[idx], batch["lengths"][row]
            assert n == len(clip["presence"])
            np.testing.assert_array_equal(batch["poses"][row, :n], schema.concat_poses(clip)[:n])
            assert not batch["poses"][row, n:].any() and not batch["frame_mask"][row, n:].any()
            assert batch["frame_mask"][row, :n].all()
            np.testing.assert_array_equal(batch["presence"][row, :n], clip["presence"][:n])
            np.testing.assert_array_equal(batch["rgb"][row, :n], clip["rgb"][:n])
            ids = vocab.encode(clip["gloss"])
            assert batch["labels"][row].tolist() == ids + [schema.PAD_ID] * (6 - len(ids))
            assert batch["label_lengths"][row] == len(ids)
            spans = batch["gloss_spans"][row]
            np.testing.assert_array_equal(spans[: len(ids)], clip["gloss_spans"])
            assert (spans[len(ids) :] == -1).all()
            tgt = vocab.encode(clip["translation"])
            assert batch["targets"][row, : len(tgt)].tolist() == tgt
            assert batch["target_lengths"][row] == len(tgt)
    assert len(seen_t) >= 2
    assert {k: v.dtype for k, v in batch.items()} == {
        "poses": np.float32, "presence": bool, "rgb": np.uint8, "frame_mask": bool,
        "lengths": np.int32, "labels": np.int32, "label_lengths": np.int32,
        "gloss_spans": np.int32, "valid": bool, "index": np.int64,
        "targets": np.int32, "target_lengths": np.int32,
    }  # fmt: skip


def test_long_clips_are_never_cut(split, caplog):
    """A clip longer than every bucket goes whole into one extra bucket (a multiple of
    32 frames), in evaluation and in training, with a warning naming the split."""
    clips, source, vocab = split
    args = dict(batch_size=4, buckets=(8, 16), max_label_len=6, shard_index=0, shard_count=1)
    with caplog.at_level("WARNING"):
        batches = list(pipeline.make_eval_iterator(source, vocab, **args))
    n_long = sum(len(c["presence"]) > 16 for c in clips)
    assert f"{n_long} of 20 clips are longer than the largest bucket 16 (up to 30" in caplog.text
    assert {b["poses"].shape[1] for b in batches} <= {8, 16, 32}
    lengths = np.concatenate([b["lengths"][b["valid"]] for b in batches])
    assert lengths.tolist() == [len(c["presence"]) for c in clips]
    (long_batch,) = [b for b in batches if 4 in b["index"]]
    row = long_batch["index"].tolist().index(4)
    assert long_batch["poses"].shape[1] == 32 and long_batch["frame_mask"][row].sum() == 30
    np.testing.assert_array_equal(
        long_batch["poses"][row, :30], schema.concat_poses(clips[4]).astype(np.float32)
    )
    train = pipeline.make_train_iterator(source, vocab, seed=0, **args)
    seen = [b for b in itertools.islice(train, 10) if 4 in b["index"]]
    assert seen and all(b["poses"].shape[1] == 32 for b in seen)
    assert pipeline.covering_buckets(source, (8, 64)) == (8, 64)


@pytest.mark.parametrize("shard_count", [1, 3])
def test_eval_visits_every_record_once(split, shard_count):
    _, source, vocab = split
    seen, num_batches = [], set()
    for shard in range(shard_count):
        batches = list(
            pipeline.make_eval_iterator(
                source, vocab, batch_size=3, buckets=BUCKETS, max_label_len=6,
                shard_index=shard, shard_count=shard_count,
            )
        )  # fmt: skip
        num_batches.add(len(batches))
        for b in batches:
            assert b["poses"].shape[0] == 3
            assert (b["index"][~b["valid"]] == -1).all()
            assert not b["frame_mask"][~b["valid"]].any()
            assert not b["poses"][~b["valid"]].any()  # padding rows are zeros, not garbage
            seen += b["index"][b["valid"]].tolist()
    assert num_batches == {pipeline.num_eval_batches(N, 3, shard_count)}
    assert sorted(seen) == list(range(N))


def test_short_batch_rows_are_zero_in_reused_memory():
    """Frames are batched into np.empty: padding rows must be written, not left over."""
    dims = {"kind": "clip", "rgb_hw": None, "latent_dim": None}
    collate = pipeline._Collate(4, (32,), ("poses",), 6, dims, False)
    poses = np.ones((30, schema.POSE_DIM), np.float16)
    ex = {
        "index": 0,
        "length": 30,
        "poses": poses,
        "labels": np.ones(1, np.int32),
    }
    for _ in range(3):  # free full batches so the next allocation can reuse their memory
        collate([ex] * 4)
    batch = collate([ex])  # an eval pass's short last batch
    assert batch["poses"].shape == (4, 32, schema.POSE_DIM)
    assert (batch["poses"][0, :30] == 1).all() and not batch["poses"][0, 30:].any()
    assert not batch["poses"][1:].any() and not batch["valid"][1:].any()


def test_skipped_corrupt_records_become_invalid_rows(tmp_path):
    clips = make_clips(6, seed=4, rgb=False)
    out = str(tmp_path)
    manifest = shards.write_split(clips, out, "dev", records_per_shard=6)
    path = f"{out}/{manifest['shards'][0]['file']}"
    with open(path, "r+b") as f:  # corrupt the last byte = record 5's data CRC
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    source = shards.open_split(out, "dev", skip_corrupt=True)
    vocab = Vocabulary.build(c["gloss"] for c in clips)
    (batch,) = pipeline.make_eval_iterator(
        source, vocab, batch_size=6, buckets=(32,), max_label_len=6, shard_index=0, shard_count=1
    )
    assert batch["valid"].tolist() == [True] * 5 + [False]


def test_latent_pipeline():
    rng = np.random.default_rng(0)
    records = [make_latent(rng, i, dim=6) for i in range(7)]
    vocab = Vocabulary.build(r["gloss"] for r in records)
    it = pipeline.make_train_iterator(
        records, vocab, batch_size=4, buckets=(16, 32), seed=1, features=("latent",),
        max_label_len=4, shard_index=0, shard_count=1,
    )  # fmt: skip
    batch = next(it)
    assert batch["latent"].shape[0] == 4 and batch["latent"].shape[2] == 6
    assert "poses" not in batch and "presence" not in batch
    for row, idx in enumerate(batch["index"]):
        n = batch["lengths"][row]
        np.testing.assert_array_equal(batch["latent"][row, :n], records[idx]["latent"])
    with pytest.raises(ValueError, match="needs clip records"):
        pipeline.make_train_iterator(
            records, vocab, batch_size=4, buckets=(32,), seed=1, max_label_len=4,
            shard_index=0, shard_count=1,
        )  # fmt: skip


def test_worker_process_matches_in_process_order(split):
    """The source and map functions pickle into a Grain worker (one spawned process)."""
    expected = _indices(_train(split), 3)
    it = _train(split, worker_count=1)
    try:
        assert _indices(it, 3) == expected
        assert it.get_state()  # checkpointable (resume is checked in-process above)
    finally:
        it.close()


def test_long_label_sequences_are_truncated(split):
    clips, source, vocab = split
    (batch,) = pipeline.make_eval_iterator(
        source, vocab, batch_size=N, buckets=(32,), max_label_len=2, shard_index=0, shard_count=1
    )
    for row, idx in enumerate(batch["index"]):
        ids = vocab.encode(clips[idx]["gloss"])[:2]
        assert batch["labels"][row].tolist() == ids + [0] * (2 - len(ids))
        assert batch["label_lengths"][row] == len(ids)
        np.testing.assert_array_equal(
            batch["gloss_spans"][row, : len(ids)], clips[idx]["gloss_spans"][:2]
        )
    assert batch["label_lengths"].max() == 2


def test_length_grouping_cuts_padding_keeps_epochs_and_resumes(split):
    clips, source, _ = split
    lengths = np.array([len(c["presence"]) for c in clips])

    def padded_frames(batches):
        return sum(b["poses"].shape[1] * len(b["index"]) for b in batches)

    grouped = list(itertools.islice(_train(split, batch_size=2, length_grouping=5), 20))
    plain = list(itertools.islice(_train(split, batch_size=2), 20))
    flat = sum((b["index"].tolist() for b in grouped), [])
    # Windows of 5 batches x 2 clips = 10 records; an epoch (20) is still a permutation.
    assert sorted(flat[:N]) == sorted(flat[N:]) == list(range(N))
    for w in range(4):  # inside a window, batches cover disjoint length ranges
        batch_lengths = [lengths[b["index"]] for b in grouped[w * 5 : w * 5 + 5]]
        spans = sorted((x.min(), x.max()) for x in batch_lengths)
        assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))
    assert padded_frames(grouped) < padded_frames(plain)
    it = _train(split, batch_size=2, length_grouping=5)
    _indices(it, 7)
    resumed = _train(split, batch_size=2, length_grouping=5)
    resumed.set_state(it.get_state())
    assert _indices(resumed, 5) == [b["index"].tolist() for b in grouped[7:12]]
    with pytest.raises(ValueError, match="needs a source with frame_counts"):
        _train((None, clips, split[2]), length_grouping=2)
