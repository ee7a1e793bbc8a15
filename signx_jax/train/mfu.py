"""Throughput and model FLOPs utilisation (MFU) of the train step (issue 15).

``Throughput`` counts the micro-batches between two of fit's log steps and turns
them into ``perf/*`` scalars: s/step (per update), examples/s, frames/s (valid
frames), model TFLOP/s per device and MFU against the chip's dense peak. Model
FLOPs are ``summary.train_step_flops`` (XLA's cost analysis of the lowered step,
not compiled, plus the BiLSTM scan correction), once per distinct batch shape.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from signx_jax.models.summary import train_step_flops

log = logging.getLogger("signx.train")

# Dense (no sparsity) peak FLOP/s per chip. TPU: bf16, Google Cloud TPU docs
# (v4 275, v5e 197, v5p 459, v6e/Trillium 918 TFLOP/s); no fp32 figure is published
# and XLA:TPU runs float32 matmuls at default precision as one bf16 MXU pass, so
# float32 uses the same number. NVIDIA: (bf16, TF32 tensor core), the data sheets'
# dense halves of the sparse figures: A100 SXM 312 / 156, H100 SXM and H200 989 / 494.
TPU_PEAKS = {"tpu v4": 275e12, "tpu v5 lite": 197e12, "tpu v5e": 197e12, "tpu v5": 459e12,
             "tpu v5p": 459e12, "tpu v6 lite": 918e12, "tpu v6e": 918e12}  # fmt: skip
GPU_PEAKS = {"a100": (312e12, 156e12), "h100": (989e12, 494e12), "h200": (989e12, 494e12)}


def peak_flops(device_kind: str, dtype: str = "float32") -> float | None:
    """Peak FLOP/s of one device for compute ``dtype``; on CPU the measured float32
    matmul rate; None for a device not in the tables."""
    kind = device_kind.lower()
    if kind == "cpu":
        return cpu_peak()
    if kind in TPU_PEAKS:
        return TPU_PEAKS[kind]
    half = jnp.dtype(dtype).itemsize == 2
    return next((p[0 if half else 1] for name, p in GPU_PEAKS.items() if name in kind), None)


@functools.cache
def cpu_peak() -> float:
    return matmul_peak(1024, 5)


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Float32 FLOP/s of a jitted n x n matmul per wall-clock second, best of ``repeats``."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    walls = [timed(lambda: f(a, a).block_until_ready())[0] for _ in range(repeats)]
    return 2 * n**3 / min(walls)


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all this process's threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


class Throughput:
    """The ``perf/*`` scalars of the micro-steps since the last ``scalars()`` call."""

    def __init__(self, trainer):
        self.trainer, kind = trainer, jax.devices()[0].device_kind
        # SIGNX_COUNT_FLOPS=0 skips the FLOP count (a lowering per batch shape) and the
        # CPU peak measurement: the test suite sets it, it runs hundreds of short fits.
        self.count_flops = os.environ.get("SIGNX_COUNT_FLOPS", "1") != "0"
        dtype = trainer.cfg.model.get("dtype", "float32")
        self.peak = peak_flops(kind, dtype) if self.count_flops else None
        if self.peak is None and self.count_flops:
            log.info("no peak FLOP/s known for device kind %r: MFU omitted", kind)
        self.flops: dict[tuple, float] = {}  # batch shapes -> FLOPs of one micro-step
        self.specs: dict[tuple, dict] = {}
        self.reset()

    def reset(self) -> None:
        self.t0, self.examples, self.frames = time.perf_counter(), 0, 0
        self.counts: collections.Counter = collections.Counter()

    def pause(self, seconds: float) -> None:
        """Leave ``seconds`` (evaluation, checkpoints) out of the step time."""
        self.t0 += seconds

    def add(self, local: dict, batch: dict) -> None:
        """One micro-step on ``batch`` (global arrays) made from this process's ``local``."""
        key = tuple((k, v.shape) for k, v in sorted(batch.items()))
        if key not in self.specs:
            self.specs[key] = jax.tree.map(
                lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=v.sharding), batch
            )
        self.counts[key] += 1
        mask = local.get("frame_mask")
        if mask is None:  # every frame of the first [B, T, ...] input
            mask = np.ones(next(np.shape(v)[:2] for v in local.values() if np.ndim(v) > 1))
        self.frames += int(np.sum(mask)) * jax.process_count()
        self.examples += next(iter(batch.values())).shape[0]

    def scalars(self, updates: int) -> dict[str, float]:
        """Scalars for the ``updates`` optimizer updates since the last call."""
        seconds = time.perf_counter() - self.t0
        out = {
            "perf/step_s": seconds / max(updates, 1),
            "perf/examples_per_s": self.examples / seconds,
            "perf/frames_per_s": self.frames / seconds,
        }
        if self.count_flops:
            for key in self.counts.keys() - self.flops.keys():
                self.flops[key] = train_step_flops(self.trainer, self.specs[key])
            flops = sum(n * self.flops[key] for key, n in self.counts.items())
            tflops = flops / seconds / jax.device_count() / 1e12
            out["perf/tflops_per_device"] = tflops
        if self.peak:
            out["perf/mfu"] = tflops * 1e12 / self.peak
        self.reset()
        return out


def describe(perf: dict[str, float]) -> str:
    """``0.125 s/step 8.0 ex/s 1024 frames/s 0.05 TFLOP/s/dev MFU 21.3%`` for the log."""
    text = (
        f"{perf['perf/step_s']:.3f} s/step {perf['perf/examples_per_s']:.1f} ex/s "
        f"{perf['perf/frames_per_s']:.0f} frames/s"
    )
    if "perf/tflops_per_device" in perf:
        text += f" {perf['perf/tflops_per_device']:.3g} TFLOP/s/dev"
    return text + (f" MFU {100 * perf['perf/mfu']:.1f}%" if "perf/mfu" in perf else "")


__all__ = ["Throughput", "describe", "matmul_peak", "peak_flops", "timed"]
