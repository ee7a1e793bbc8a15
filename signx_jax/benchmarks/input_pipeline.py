r"""Input-pipeline throughput: Grain train batches vs raw reading of the same shards.

README "Design": Grain per process over pose shards. Prints, in one run,

* raw:      sequential read of every shard byte + TFRecord framing + CRC checks;
* pipeline: records/s through ``make_train_iterator`` (decode, labels, pad to
  a bucket, batch), after one warm-up batch;

and their ratio (how much of the disk/CRC rate the decode+batch path keeps).

Usage::

  python -m signx_jax.benchmarks.input_pipeline --data_dir D --split train
  python -m signx_jax.benchmarks.input_pipeline              # random shards in a temp dir
  python -m signx_jax.benchmarks.input_pipeline --worker_count 2 --features poses,rgb
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from absl import app, flags

from signx_jax import schema
from signx_jax.data import pipeline, shards, tfrecord
from signx_jax.data.vocab import Vocabulary

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Shard directory; random shards if unset.")
_SPLIT = flags.DEFINE_string("split", "train", "Split to read.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Records per batch.")
_BUCKETS = flags.DEFINE_list("buckets", ["64", "128", "256"], "Frame buckets.")
_BATCHES = flags.DEFINE_integer("num_batches", 40, "Timed batches.")
_WORKERS = flags.DEFINE_integer("worker_count", 0, "Grain worker processes.")
_GROUPING = flags.DEFINE_integer("length_grouping", 1, "Sort clips by length in K-batch windows.")
_THREADS = flags.DEFINE_integer("read_threads", 4, "Grain read threads per process.")
_FEATURES = flags.DEFINE_list("features", ["poses"], "Batch features (poses, rgb, latent).")
_MAX_LABEL = flags.DEFINE_integer("max_label_len", 32, "Label length L.")
_NUM_RECORDS = flags.DEFINE_integer("num_records", 128, "Random records when no --data_dir.")
_RGB = flags.DEFINE_bool("rgb", False, "Random records carry 32x32 RGB frames.")


def _random_records(n: int, rng: np.random.Generator, with_rgb: bool):
    """Clips with 40..250 frames and 2..12 glosses from a 200-word vocabulary."""
    for i in range(n):
        t = int(rng.integers(40, 251))
        clip = {
            "clip_id": f"bench-{i:06d}",
            "dataset": "benchmark",
            "signer": f"s{i % 8}",
            "fps": 25.0,
            "poses": {
                name: rng.normal(size=(t, d)).astype(np.float32) for name, d in schema.STREAMS
            },
            "presence": np.ones((t, len(schema.STREAMS)), bool),
            "gloss": " ".join(f"G{g}" for g in rng.integers(0, 200, int(rng.integers(2, 13)))),
            "translation": "",
        }
        if with_rgb:
            clip["rgb"] = rng.integers(0, 256, (t, 32, 32, 3), dtype=np.uint8)
        yield clip


def raw_read(data_dir: str, split: str) -> tuple[int, int, float]:
    """Sequentially read and CRC-check every frame: (records, bytes, seconds)."""
    manifest = shards.read_manifest(data_dir, split)
    start, records, num_bytes = time.perf_counter(), 0, 0
    for shard in manifest["shards"]:
        for _, payload in tfrecord.iter_frames(os.path.join(data_dir, shard["file"])):
            records += 1
            num_bytes += len(payload)
    return records, num_bytes, time.perf_counter() - start


def pipeline_read(source, vocab: Vocabulary) -> tuple[int, float]:
    """Time ``--num_batches`` train batches after a warm-up one: (records, seconds)."""
    it = pipeline.make_train_iterator(
        source,
        vocab,
        batch_size=_BATCH.value,
        buckets=[int(b) for b in _BUCKETS.value],
        seed=0,
        features=_FEATURES.value,
        max_label_len=_MAX_LABEL.value,
        shard_index=0,
        shard_count=1,
        worker_count=_WORKERS.value,
        read_threads=_THREADS.value,
        length_grouping=_GROUPING.value,
    )
    try:
        next(it)  # start-up (worker spawn, first reads) is not throughput
        start = time.perf_counter()
        for _ in range(_BATCHES.value):
            next(it)
        return _BATCHES.value * _BATCH.value, time.perf_counter() - start
    finally:
        it.close()


def table(data_dir: str | None = None, consumer_examples_s: float | None = None) -> str:
    """Both rates of ``data_dir`` (random shards when None) as a Markdown table; with
    ``consumer_examples_s``, the pipeline's rate against the stage-1 step's consumption."""
    with tempfile.TemporaryDirectory() as tmp:
        if data_dir is None:
            data_dir = tmp
            records = _random_records(_NUM_RECORDS.value, np.random.default_rng(0), _RGB.value)
            shards.write_split(records, data_dir, _SPLIT.value, records_per_shard=32)
        source = shards.open_split(data_dir, _SPLIT.value)
        vocab_path = os.path.join(data_dir, "vocab.json")
        if os.path.exists(vocab_path):
            vocab = Vocabulary.load(vocab_path)
        else:
            light = source.replace(decode_rgb=False)
            vocab = Vocabulary.build(light[i]["gloss"] for i in range(len(light)))
        n_raw, n_bytes, t_raw = raw_read(data_dir, _SPLIT.value)
        n_pipe, t_pipe = pipeline_read(source, vocab)
    raw, pipe = n_raw / t_raw, n_pipe / t_pipe
    lines = [
        f"| input pipeline ({n_raw} clips, batch {_BATCH.value}, workers {_WORKERS.value}, "
        f"length_grouping {_GROUPING.value}, features {','.join(_FEATURES.value)}) | records/s |",
        "|---|---:|",
        f"| raw sequential read + CRC ({n_bytes / t_raw / 1e6:.0f} MB/s) | {raw:.0f} |",
        f"| Grain train pipeline (decode, labels, bucket, batch) | {pipe:.0f} |",
        f"pipeline / raw read: {pipe / raw:.2f}",
    ]
    if consumer_examples_s:
        lines.append(
            f"pipeline / pose2gloss step consumption ({consumer_examples_s:.1f} clips/s): "
            f"{pipe / consumer_examples_s:.0f}x (target >= 10x)"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    print(table(_DATA_DIR.value))


if __name__ == "__main__":
    app.run(main)
