"""Pose shards and the Grain input pipeline (README "Design").

* ``shards``: ``write_split`` / ``open_split`` (TFRecord shards + offset index +
  manifest; ``PoseShardSource`` is a Grain RandomAccessDataSource).
* ``manifest``: ``read_manifest`` / ``verify_split`` (``<split>.manifest.json``).
* ``records``: Clip / latent record <-> tf.train.Example features.
* ``tfrecord``, ``example_proto``, ``png``: the TensorFlow-free file format
  (TFRecord framing with CRC-32C, Example protobuf, RGB frames).
* ``vocab``: ``Vocabulary`` (special tokens first, saved as ``vocab.json``).
* ``pipeline``: ``make_train_iterator`` / ``make_eval_iterator`` (numpy batches
  padded to frame buckets; the train iterator is checkpointable).

Submodules are imported explicitly (``from signx_jax.data import shards``) so
that reading shards does not import Grain or JAX.
"""
