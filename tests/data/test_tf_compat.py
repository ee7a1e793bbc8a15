"""Pose shards are plain TFRecords of tf.train.Example (TensorFlow only here)."""

import os

import numpy as np
import pytest

from signx_jax import schema
from signx_jax.data import example_proto, shards, tfrecord
from tests.data.factory import make_clips


def test_tf_reads_our_shards(tmp_path):
    tf = pytest.importorskip("tensorflow")
    clips = make_clips(3, seed=5)
    out = str(tmp_path)
    manifest = shards.write_split(clips, out, "dev", records_per_shard=2, pose_dtype="float16")
    files = [os.path.join(out, s["file"]) for s in manifest["shards"]]
    spec = {
        "clip_id": tf.io.FixedLenFeature([], tf.string),
        "gloss": tf.io.FixedLenFeature([], tf.string),
        "fps": tf.io.FixedLenFeature([1], tf.float32),
        "poses": tf.io.FixedLenFeature([], tf.string),
        "poses/dtype": tf.io.FixedLenFeature([], tf.string),
        "poses/shape": tf.io.FixedLenFeature([2], tf.int64),
        "gloss_spans": tf.io.FixedLenFeature([], tf.string),
        "gloss_spans/shape": tf.io.FixedLenFeature([2], tf.int64),
        "rgb": tf.io.VarLenFeature(tf.string),
    }
    parsed = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(files)]
    assert len(parsed) == len(clips)
    for clip, ex in zip(clips, parsed, strict=True):
        assert ex["clip_id"].numpy().decode() == clip["clip_id"]
        assert ex["gloss"].numpy().decode() == clip["gloss"]
        assert ex["poses/dtype"].numpy() == b"float16"
        shape = ex["poses/shape"].numpy()
        poses = tf.reshape(tf.io.decode_raw(ex["poses"], tf.float16), shape).numpy()
        np.testing.assert_array_equal(poses, schema.concat_poses(clip).astype(np.float16))
        spans = tf.io.decode_raw(ex["gloss_spans"], tf.int32).numpy().reshape(-1, 2)
        np.testing.assert_array_equal(spans, clip["gloss_spans"])
        frame0 = tf.io.decode_png(tf.sparse.to_dense(ex["rgb"])[0]).numpy()
        np.testing.assert_array_equal(frame0, clip["rgb"][0])


def test_we_read_tf_written_records(tmp_path):
    tf = pytest.importorskip("tensorflow")
    path = str(tmp_path / "tf.tfrecord")
    feats = {
        "s": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"abc", b"de"])),
        "f": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, -1.0])),
        "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, -4, 2**50])),
    }
    ex = tf.train.Example(features=tf.train.Features(feature=feats))
    with tf.io.TFRecordWriter(path) as w:
        w.write(ex.SerializeToString())
        w.write(b"")
    frames = list(tfrecord.iter_frames(path))
    assert [bytes(p) for _, p in frames][1] == b""
    got = example_proto.decode_example(frames[0][1])
    assert [bytes(v) for v in got["s"]] == [b"abc", b"de"]
    np.testing.assert_array_equal(got["f"], [0.5, -1.0])
    np.testing.assert_array_equal(got["i"], [3, -4, 2**50])
    ours = example_proto.encode_example(
        {"s": [b"abc", b"de"], "f": np.array([0.5, -1.0], np.float32),
         "i": np.array([3, -4, 2**50], np.int64)}
    )  # fmt: skip
    assert tf.train.Example.FromString(ours) == ex
