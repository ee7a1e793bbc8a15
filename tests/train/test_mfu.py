"""fit's throughput and MFU scalars (signx_jax/train/mfu.py), issue 15."""

import glob

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from signx_jax.data.vocab import Vocabulary
from signx_jax.train import mfu, tasks
from signx_jax.train.fit import fit
from tests.train.helpers import latent_records, micro_cslr_config

DIM = 16
PERF = ("perf/step_s", "perf/examples_per_s", "perf/frames_per_s", "perf/tflops_per_device")


def test_peak_table():
    assert mfu.peak_flops("TPU v5 lite", "bfloat16") == 197e12  # v5e
    assert mfu.peak_flops("TPU v5", "float32") == 459e12  # v5p
    assert mfu.peak_flops("TPU v6 lite", "bfloat16") == 918e12
    assert mfu.peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
    assert mfu.peak_flops("NVIDIA A100-SXM4-40GB", "float32") == 156e12  # TF32
    assert mfu.peak_flops("TPU v4 lite") is None
    assert mfu.peak_flops("Some NPU", "bfloat16") is None
    assert mfu.peak_flops("cpu") > 0  # measured


def test_fit_writes_perf_scalars(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNX_COUNT_FLOPS", "1")
    monkeypatch.setattr(mfu, "cpu_peak", lambda: 1e9)
    calls, count = [], mfu.train_step_flops

    def counted(trainer, batch):
        calls.append(batch["frame_mask"].shape)
        return count(trainer, batch)

    monkeypatch.setattr(mfu, "train_step_flops", counted)
    cfg = micro_cslr_config(DIM)
    cfg.train.update(total_steps=4, log_every=2)
    train = latent_records(24, DIM)
    vocab = Vocabulary.build([r["gloss"] for r in train])
    result = fit(cfg, tasks.CSLRTask(cfg, len(vocab)), train_source=train, dev_source=None,
                 vocab=vocab, workdir=str(tmp_path))  # fmt: skip
    assert calls == [(8, 32)]  # one bucket: one FLOP count, at the first log
    (events,) = glob.glob(str(tmp_path / "tb" / "events.*"))
    acc = EventAccumulator(events).Reload()
    written = {
        tag: [float(make_ndarray(t.tensor_proto)) for t in acc.Tensors(tag)]
        for tag in (*PERF, "perf/mfu")
    }  # fmt: skip
    assert all(len(v) == 2 and min(v) > 0 for v in written.values()), written
    for h in result.history:
        assert np.isclose(h["perf/mfu"], h["perf/tflops_per_device"] * 1e12 / 1e9)
        # valid frames, not batch x bucket: the records have 5-30 frames
        assert 5 <= h["perf/frames_per_s"] / h["perf/examples_per_s"] <= 30
    assert np.allclose(written["perf/mfu"], [h["perf/mfu"] for h in result.history])
