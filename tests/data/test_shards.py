"""Pose shards: bit-exact round trip, determinism, manifest and CRC checks."""

import json
import os
import pickle
import re

import numpy as np
import pytest

from signx_jax import schema
from signx_jax.data import shards, tfrecord
from tests.data.factory import make_clips, make_latent

TEXT = ("clip_id", "dataset", "signer", "gloss", "translation")


@pytest.fixture(scope="module")
def clips():
    return make_clips(9, seed=1) + make_clips(2, seed=2, rgb=True, spans=False)


def _write(tmp_path, records, name="d", **kw):
    out = str(tmp_path / name)
    kw.setdefault("records_per_shard", 4)
    return out, shards.write_split(records, out, "train", **kw)


def _shard_file(out, manifest, i=0):
    return os.path.join(out, manifest["shards"][i]["file"])


def test_float32_roundtrip_is_bit_exact(tmp_path, clips):
    out, manifest = _write(tmp_path, clips, pose_dtype="float32")
    assert manifest["num_records"] == len(clips)
    assert [s["num_records"] for s in manifest["shards"]] == [4, 4, 3]
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert manifest["record_kind"] == "clip"
    assert manifest["shards"][0]["file"] == "train-00000-of-00003.tfrecord"
    source = shards.open_split(out, "train")
    assert len(source) == len(clips)
    assert source.frame_counts.tolist() == [len(c["presence"]) for c in clips]
    for i, clip in enumerate(clips):
        got = source[i]
        for key in TEXT:
            assert got[key] == clip[key]
        assert got["fps"] == clip["fps"] and got["index"] == i
        for name, _ in schema.STREAMS:
            assert got["poses"][name].dtype == np.float32
            np.testing.assert_array_equal(got["poses"][name], clip["poses"][name])
        np.testing.assert_array_equal(got["presence"], clip["presence"])
        np.testing.assert_array_equal(got["rgb"], clip["rgb"])
        assert got["rgb"].dtype == np.uint8
        if "gloss_spans" in clip:
            np.testing.assert_array_equal(got["gloss_spans"], clip["gloss_spans"])
        else:
            assert "gloss_spans" not in got


def test_lazy_rgb_decodes_only_the_frames_read(tmp_path, clips, monkeypatch):
    from signx_jax.data import records

    out, _ = _write(tmp_path, clips)
    source = shards.open_split(out, "train", decode_rgb="lazy")
    index = next(i for i, c in enumerate(clips) if c.get("rgb") is not None)
    frames = source[index]["rgb"]
    assert isinstance(frames, records.PngFrames)
    assert frames.shape == clips[index]["rgb"].shape and len(frames) == len(clips[index]["rgb"])
    decoded = []
    real = records._unpng
    monkeypatch.setattr(records, "_unpng", lambda *a: decoded.append(1) or real(*a))
    window = frames[3:7]
    assert not decoded  # slicing decodes nothing
    batch = np.zeros((1, 4, *frames.shape[1:]), np.uint8)
    batch[0] = window  # what the batcher does
    np.testing.assert_array_equal(batch[0], clips[index]["rgb"][3:7])
    assert len(decoded) == 4
    np.testing.assert_array_equal(np.asarray(frames), clips[index]["rgb"])


def test_float16_roundtrip_equals_cast(tmp_path, clips):
    out, _ = _write(tmp_path, clips[:3], pose_dtype="float16")
    source = shards.open_split(out, "train", decode_rgb=False)
    got = source[2]
    assert "rgb" not in got
    for name, _ in schema.STREAMS:
        expected = clips[2]["poses"][name].astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(got["poses"][name], expected)
        assert not np.array_equal(got["poses"][name], clips[2]["poses"][name])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_latent_records_roundtrip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    records = [make_latent(rng, i, dim=6) for i in range(5)]
    records[1]["gloss_spans"] = np.array([[0, 2], [2, 3], [3, 5]], np.int32)
    out, manifest = _write(tmp_path, records, pose_dtype=dtype)
    assert manifest["record_kind"] == "latent" and manifest["latent_dim"] == 6
    source = shards.open_split(out, "train")
    for i, r in enumerate(records):
        got = source[i]
        assert got["latent"].dtype == np.float32
        np.testing.assert_array_equal(got["latent"], r["latent"].astype(dtype).astype(np.float32))
        assert got["gloss"] == r["gloss"] and got["clip_id"] == r["clip_id"]
    np.testing.assert_array_equal(source[1]["gloss_spans"], records[1]["gloss_spans"])


def test_mixed_record_kinds_rejected(tmp_path, clips):
    with pytest.raises(ValueError, match="latent record in a clip split"):
        _write(tmp_path, [clips[0], make_latent(np.random.default_rng(0), 0)])


def test_same_records_give_same_bytes(tmp_path, clips):
    a, ma = _write(tmp_path, clips, "a", extra_manifest={"generator": {"seed": 3}})
    b, mb = _write(tmp_path, iter(clips), "b", extra_manifest={"generator": {"seed": 3}})
    assert ma == mb and ma["extra"] == {"generator": {"seed": 3}}
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            assert fa.read() == fb.read(), name


def test_source_is_picklable_after_use(tmp_path, clips):
    out, _ = _write(tmp_path, clips[:5])
    source = shards.open_split(out, "train")
    first = source[4]
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone[4]["poses"]["smplerx"], first["poses"]["smplerx"])
    source.close()


def _flip(path, offset, bit=0):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def _offset(out, manifest, shard, record):
    index = tfrecord.read_index(os.path.join(out, manifest["shards"][shard]["index_file"]))
    return int(index[record][0]), int(index[record][1])


def _message_names(path, record, offset):
    return re.escape(path) + f".*record {record} .*byte offset {offset}"


@pytest.mark.parametrize(
    "where, reason",
    [
        (lambda off, n: off + tfrecord.HEADER_BYTES + n // 2, "payload CRC"),
        (lambda off, n: off + 1, "length CRC"),
        (lambda off, n: off + 9, "length CRC"),  # the length's own CRC
        (lambda off, n: off + tfrecord.HEADER_BYTES + n + 1, "payload CRC"),  # data CRC
    ],
)
def test_flipped_bit_is_detected(tmp_path, clips, where, reason):
    out, manifest = _write(tmp_path, clips)
    offset, length = _offset(out, manifest, 1, 2)
    path = _shard_file(out, manifest, 1)
    _flip(path, where(offset, length), bit=3)
    source = shards.open_split(out, "train")
    with pytest.raises(shards.ShardCorruptionError, match=_message_names(path, 2, offset)) as e:
        source[4 + 2]
    assert reason in str(e.value)
    source[4 + 1]  # neighbours are intact


def test_truncated_and_empty_files(tmp_path, clips):
    out, manifest = _write(tmp_path, clips)
    path = _shard_file(out, manifest, 2)
    source = shards.open_split(out, "train")
    with open(path, "r+b") as f:  # truncated under an open source: the read catches it
        f.truncate(os.path.getsize(path) - 5)
    offset, _ = _offset(out, manifest, 2, 2)
    with pytest.raises(shards.ShardCorruptionError, match=_message_names(path, 2, offset)) as e:
        source[10]
    assert "truncated" in str(e.value)
    with pytest.raises(shards.ShardCorruptionError, match=re.escape(path) + ".*bytes"):
        shards.open_split(out, "train")
    # A manifest made to agree with the truncation: the index check catches it.
    manifest["shards"][2]["num_bytes"] -= 5
    with open(shards.manifest_path(out, "train"), "w") as f:
        json.dump(manifest, f)
    with pytest.raises(shards.ShardCorruptionError, match=re.escape(path) + ".*past the end"):
        shards.open_split(out, "train")
    open(path, "wb").close()  # empty file
    with pytest.raises(shards.ShardCorruptionError, match=re.escape(path)):
        shards.open_split(out, "train")


def test_wrong_file_type(tmp_path, clips):
    out, manifest = _write(tmp_path, clips)
    path = _shard_file(out, manifest, 0)
    size = os.path.getsize(path)
    with open(path, "wb") as f:  # same size, but a PNG-ish header and junk
        f.write((b"\x89PNG\r\n\x1a\n" * (size // 8 + 1))[:size])
    with pytest.raises(shards.ShardCorruptionError, match="not a TFRecord"):
        shards.open_split(out, "train")[0]
    with pytest.raises(tfrecord.TFRecordError, match="not a TFRecord"):
        list(tfrecord.iter_frames(path))
    with open(shards.manifest_path(out, "train"), "w") as f:
        f.write("<html>")
    with pytest.raises(ValueError, match="manifest is not valid JSON"):
        shards.open_split(out, "train")


def test_skip_corrupt_counts_and_returns_none(tmp_path, clips):
    out, manifest = _write(tmp_path, clips)
    for shard, record in [(0, 1), (2, 0)]:
        offset, length = _offset(out, manifest, shard, record)
        _flip(_shard_file(out, manifest, shard), offset + tfrecord.HEADER_BYTES + length - 1)
    source = shards.open_split(out, "train", skip_corrupt=True)
    got = [source[i] for i in range(len(source))]
    assert [i for i, r in enumerate(got) if r is None] == [1, 8]
    assert source.num_corrupt == 2
    assert shards.verify_split(out, "train") == [
        (_shard_file(out, manifest, 0), "sha256 mismatch"),
        (_shard_file(out, manifest, 2), "sha256 mismatch"),
    ]


def test_manifest_checks(tmp_path, clips):
    out, manifest = _write(tmp_path, clips)
    mpath = shards.manifest_path(out, "train")

    def rewrite(**changes):
        with open(mpath, "w") as f:
            json.dump({**manifest, **changes}, f)

    rewrite(schema_version=schema.SCHEMA_VERSION - 1)
    with pytest.raises(ValueError, match="older record schema.*Regenerate"):
        shards.open_split(out, "train")
    rewrite(schema_version=schema.SCHEMA_VERSION + 1)
    with pytest.raises(ValueError, match="newer record schema"):
        shards.open_split(out, "train")
    rewrite(streams=[["dwpose", 384]])
    with pytest.raises(ValueError, match="pose streams .* differ from schema.STREAMS"):
        shards.open_split(out, "train")
    rewrite(format_version=99)
    with pytest.raises(ValueError, match="format version 99 is newer"):
        shards.open_split(out, "train")
    rewrite(num_records=manifest["num_records"] + 1)
    with pytest.raises(ValueError, match="shards hold 11 records, manifest says 12"):
        shards.open_split(out, "train")
    bad = [dict(s) for s in manifest["shards"]]
    bad[1]["num_records"] = 3
    rewrite(shards=bad)
    with pytest.raises(ValueError, match="index lists 4 records, manifest says 3"):
        shards.open_split(out, "train")
    with pytest.raises(FileNotFoundError, match="dev"):
        shards.open_split(out, "dev")


def test_rewrite_removes_stale_shards_and_errors_leave_nothing(tmp_path, clips):
    out, _ = _write(tmp_path, clips, records_per_shard=4)
    _write(tmp_path, clips, records_per_shard=100)
    assert sorted(os.listdir(out)) == [
        "train-00000-of-00001.tfrecord",
        "train-00000-of-00001.tfrecord.index",
        "train.manifest.json",
    ]
    bad = dict(clips[3], poses={**clips[3]["poses"], "sapiens": np.zeros((2, 576))})
    with pytest.raises(ValueError, match=r"train record 3 \(clip_id='clip-0003'\).*frame count"):
        shards.write_split(clips[:3] + [bad], str(tmp_path / "e"), "train", records_per_shard=2)
    assert os.listdir(tmp_path / "e") == []


def test_rewrite_killed_before_its_manifest_leaves_no_manifest(tmp_path, monkeypatch):
    """Rewriting a split drops the old manifest before replacing its shards: a
    crash in between reads as an unfinished split, never as the old one."""

    def latents(n):
        return [{"clip_id": f"c{i}", "gloss": "A", "latent": np.ones((2 + i, 4))} for i in range(n)]

    out = str(tmp_path)
    shards.write_split(latents(3), out, "dev")
    assert shards.split_complete(out, "dev")

    def killed(path):
        raise KeyboardInterrupt("killed before the manifest")

    with monkeypatch.context() as m:
        m.setattr(shards, "sha256_file", killed)
        with pytest.raises(KeyboardInterrupt):
            shards.write_split(latents(5), out, "dev")
    assert not os.path.exists(shards.manifest_path(out, "dev"))
    assert not shards.split_complete(out, "dev")
    shards.write_split(latents(5), out, "dev")
    assert len(shards.open_split(out, "dev")) == 5
