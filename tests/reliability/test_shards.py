"""Issue 9, shards: five kinds of corruption name file, record and byte offset;
``skip_corrupt`` skips and counts them, also through the train pipeline.

(tests/data/test_shards.py covers the same reader record by record; this is
the issue-9 suite over a latent split, the stage-3 input.)
"""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest

from signx_jax import schema
from signx_jax.data import pipeline, shards, tfrecord
from signx_jax.data.vocab import Vocabulary
from tests.reliability import helpers

BAD_SHARD, BAD_RECORD = 1, 2  # record 2 of shard 1 = split index 6 (4 per shard)


@pytest.fixture
def split(tmp_path):
    records = helpers.latent_records(12, seed=3)
    manifest = shards.write_split(records, str(tmp_path), "train", records_per_shard=4)
    path = os.path.join(tmp_path, manifest["shards"][BAD_SHARD]["file"])
    index = tfrecord.read_index(path + tfrecord.INDEX_SUFFIX)
    offset, length = (int(x) for x in index[BAD_RECORD, :2])
    return str(tmp_path), path, offset, length, records


def _patch(path, offset, data: bytes):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _flip(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        byte = f.read(1)[0]
    _patch(path, offset, bytes([byte ^ 0x10]))


def corrupt_payload(path, offset, length):
    _flip(path, offset + tfrecord.HEADER_BYTES + length // 2)


def corrupt_length(path, offset, length):
    _flip(path, offset + 2)


def truncate(path, offset, length):
    with open(path, "r+b") as f:
        f.truncate(offset + tfrecord.HEADER_BYTES + length // 2)


def empty(path, offset, length):
    open(path, "wb").close()


def wrong_type(path, offset, length):
    size = os.path.getsize(path)
    with open(path, "wb") as f:  # a PNG of the same size in the shard's place
        f.write((b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" * (size // 16 + 1))[:size])


CORRUPTIONS = {
    "payload_bit_flip": (corrupt_payload, "payload CRC mismatch"),
    "length_bit_flip": (corrupt_length, "length CRC mismatch"),
    "truncation": (truncate, "truncated"),
    "empty_file": (empty, "truncated frame header"),
    "wrong_file_type": (wrong_type, "not a TFRecord"),
}


def _first_bad(kind: str) -> int:
    """Split index of the first record the corruption destroys."""
    return 4 if kind in ("empty_file", "wrong_file_type") else 4 + BAD_RECORD


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_names_file_record_and_offset(split, kind):
    data_dir, path, offset, length, _ = split
    corrupt, reason = CORRUPTIONS[kind]
    source = shards.open_split(data_dir, "train")  # opened before the damage
    corrupt(path, offset, length)
    bad = _first_bad(kind)
    local = bad - 4
    where = 0 if local == 0 else offset
    pattern = re.escape(path) + f": record {local} \\(split index {bad}\\) at byte offset {where}"
    with pytest.raises(shards.ShardCorruptionError, match=pattern) as e:
        source[bad]
    assert reason in str(e.value)
    assert source[0]["clip_id"] == "c0"  # other shards still read
    if kind in ("payload_bit_flip", "length_bit_flip", "wrong_file_type"):
        return  # same size: open_split cannot tell; reads (above) do
    with pytest.raises(shards.ShardCorruptionError, match=re.escape(path) + ": file has"):
        shards.open_split(data_dir, "train")


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_skip_corrupt_skips_and_counts(split, kind):
    data_dir, path, offset, length, records = split
    source = shards.open_split(data_dir, "train", skip_corrupt=True)
    CORRUPTIONS[kind][0](path, offset, length)
    got = [source[i] for i in range(len(source))]
    lost = {i for i, r in enumerate(got) if r is None}
    expected = set(range(_first_bad(kind), 8))
    if kind in ("payload_bit_flip", "length_bit_flip"):
        expected = {4 + BAD_RECORD}
    assert lost == expected
    assert source.num_corrupt == len(expected)
    for i, r in enumerate(got):
        if r is not None:  # survivors are intact
            np.testing.assert_array_equal(r["latent"], records[i]["latent"].astype(np.float16))


def test_skip_corrupt_through_the_train_pipeline(split):
    data_dir, path, offset, length, records = split
    source = shards.open_split(data_dir, "train", skip_corrupt=True)
    corrupt_payload(path, offset, length)
    vocab = Vocabulary.build(r["gloss"] for r in records)
    it = pipeline.make_train_iterator(
        source, vocab, batch_size=4, buckets=(32,), seed=0, features=("latent",),
        max_label_len=4, shard_index=0, shard_count=1, read_threads=1,
    )  # fmt: skip
    batches = [next(it) for _ in range(6)]  # two epochs
    seen = np.concatenate([b["index"][b["valid"]] for b in batches])
    assert 4 + BAD_RECORD not in seen and len(seen) == 2 * 11
    invalid = sum(int((~b["valid"]).sum()) for b in batches)
    assert invalid == 2  # the skipped record became a padding row, once per epoch
    assert all(not b["latent"][~b["valid"]].any() for b in batches)


def test_older_manifest_schema_is_a_clear_error(split):
    data_dir = split[0]
    path = shards.manifest_path(data_dir, "train")
    with open(path) as f:
        manifest = json.load(f)
    manifest["schema_version"] = schema.SCHEMA_VERSION - 1
    with open(path, "w") as f:
        json.dump(manifest, f)
    with pytest.raises(ValueError, match=r"older record schema .*Regenerate the shards"):
        shards.open_split(data_dir, "train")


def test_manifest_is_verified_at_load(split):
    data_dir, path = split[0], split[1]
    index_path = path + tfrecord.INDEX_SUFFIX
    with open(index_path, "r+b") as f:  # the index claims one record fewer
        f.seek(8)
        f.write(struct.pack("<Q", 3))
        f.truncate(16 + 24 * 3)
    with pytest.raises(shards.ShardCorruptionError, match="index lists 3 records, manifest says 4"):
        shards.open_split(data_dir, "train")
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=re.escape(path) + " is missing"):
        shards.open_split(data_dir, "train")
