"""Train-step throughput of each SignX stage on this machine (README "Benchmarks and scaling").

For each stage at a stated config (the real ``Trainer`` and ``Task``, float32,
one device, fixed seeds) prints step time, examples/s, frames/s and the
model's FLOP/s as a fraction of this machine's *measured* float32 matmul peak
(a jitted square matmul timed in the same run). Both are measured in wall
time and in CPU time of the process: on a shared machine the wall clock
depends on the others' load, CPU seconds much less so; "idle" numbers are
CPU-s / core count, what an otherwise idle machine would give if the step
used every core. Model FLOPs are XLA's cost
analysis of the compiled step plus the BiLSTM recurrent matmuls XLA counts
only once per scan (x3 for forward + backward).

The ``vac_baseline`` row is the VAC CSLR stack (Conv1D K5-P2-K5-P2 + 2 x
BiLSTM + CTC, Adam) at batch 8, T = 256 frames, 1024-d input and 1,296
classes, the setting of the PyTorch reference (0.67 s/step, 3,060 frames/s on
this 2-core machine)::

    python -m signx_jax.benchmarks.train_step
    python -m signx_jax.benchmarks.train_step --stages cslr_vac --steps 10
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags

from configs.common import train_config
from signx_jax import schema
from signx_jax.aot import make_task
from signx_jax.models.summary import train_step_flops
from signx_jax.train.loop import Trainer
from signx_jax.train.mfu import matmul_peak, timed

REFERENCE_VAC_SECONDS = 0.67  # PyTorch VAC on this machine, batch 8 x 256 frames
# No clock is visible inside this VM (no cpufreq); bound it from above by the
# fastest boost clock of any x86 server core of this generation (EPYC 72F3).
MAX_BOOST_GHZ = 4.1
NUM_SPECIAL = len(schema.SPECIAL_TOKENS)


@dataclasses.dataclass(frozen=True)
class Bench:
    """One benchmarked step: stage, size, variant, batch, frames, vocab, overrides."""

    name: str
    stage: str
    size: str
    batch: int
    frames: int
    vocab: int = 1124
    variant: str = "signx"
    model: tuple[tuple[str, Any], ...] = ()
    target_mfu: float = 0.0


BENCHES = {
    "pose2gloss": Bench("pose2gloss (fusion ViT)", "pose2gloss", "small", 8, 128, target_mfu=0.40),
    "video2pose": Bench("video2pose (spatial ViT)", "video2pose", "small", 2, 16, target_mfu=0.40),
    "cslr": Bench("cslr signx", "cslr", "small", 8, 128, target_mfu=0.25),
    "cslr_vac": Bench(
        "cslr vac_baseline",
        "cslr",
        "base",
        8,
        256,
        vocab=1296,
        variant="vac_baseline",
        model=(("latent_dim", 1024), ("temporal_width", 1024), ("lstm_hidden", 512)),
        target_mfu=0.25,
    ),
}


def bench_config(b: Bench) -> ml_collections.ConfigDict:
    cfg = train_config(b.stage, b.size, variant=b.variant)
    for key, value in b.model:
        cfg.model[key] = value
    if b.variant == "vac_baseline":
        cfg.model.conv_channels = cfg.model.temporal_width
    cfg.data.batch_size = b.batch
    cfg.data.buckets = (b.frames,)
    cfg.data.max_label_len = 16
    cfg.optim.grad_accum_steps = 1  # time one update, not a micro-step of 16
    cfg.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1))
    return cfg


def random_batch(cfg, task, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A full batch (every frame valid) of the pipeline's keys with random values."""
    rng = np.random.default_rng(seed)
    b, t, n_lab = cfg.data.batch_size, max(cfg.data.buckets), cfg.data.max_label_len
    batch = {
        "frame_mask": np.ones((b, t), bool),
        "lengths": np.full(b, t, np.int32),
        "labels": rng.integers(NUM_SPECIAL, vocab, (b, n_lab)).astype(np.int32),
        "label_lengths": np.full(b, n_lab // 2, np.int32),
        "gloss_spans": np.full((b, n_lab, 2), -1, np.int32),
        "valid": np.ones(b, bool),
        "index": np.arange(b, dtype=np.int32),
        "cropped": np.zeros(b, bool),
    }
    if "poses" in task.features:
        batch["poses"] = rng.normal(size=(b, t, schema.POSE_DIM)).astype(np.float32)
        batch["presence"] = np.ones((b, t, len(schema.STREAMS)), bool)
    if "rgb" in task.features:
        hw = cfg.model.image_size
        batch["rgb"] = rng.integers(0, 256, (b, t, hw, hw, 3), dtype=np.uint8)
    if "latent" in task.features:
        batch["latent"] = rng.normal(size=(b, t, cfg.model.latent_dim)).astype(np.float32)
    return batch


def run_bench(b: Bench, steps: int, peak: tuple[float, float]) -> dict[str, float]:
    cfg = bench_config(b)
    task = make_task(cfg, b.vocab)
    trainer = Trainer(cfg, task)
    batch = jax.device_put(random_batch(cfg, task, b.vocab))
    flops = train_step_flops(trainer, batch)
    t0 = time.perf_counter()
    jax.block_until_ready(trainer.train_step(batch))  # compile
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(trainer.train_step(batch))
    step = lambda: jax.block_until_ready(trainer.train_step(batch))  # noqa: E731
    walls, cpus = np.asarray([timed(step) for _ in range(steps)]).T
    sec, cpu = float(np.median(walls)), float(np.median(cpus))
    frames = b.batch * b.frames
    return dict(
        step_s=sec,
        examples_s=b.batch / sec,
        frames_s=frames / sec,
        gflop_step=flops / 1e9,
        mfu=flops / sec / peak[0],
        cpu_s=cpu,
        mfu_cpu=flops / cpu / peak[1],
        idle_step_s=cpu / (os.cpu_count() or 1),
        compile_s=compile_s,
    )


def fp32_flops_per_cycle() -> int:
    """Float32 FLOP per cycle per core from the CPU flags: FMA pipes x lanes x 2."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(
                (line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []
            )
    except OSError:
        flags = []
    if "avx512f" in flags:
        return 64  # 2 x 512-bit FMA
    if "avx2" in flags and "fma" in flags:
        return 32  # 2 x 256-bit FMA
    return 16 if "avx" in flags else 8


def vac_ceiling_note(gflop_step: float) -> str:
    """Whether 2x the PyTorch reference is possible at all: the FLOP rate it needs
    against this CPU's float32 FMA peak at the highest boost clock."""
    cores, per_cycle = os.cpu_count() or 1, fp32_flops_per_cycle()
    ceiling = cores * per_cycle * MAX_BOOST_GHZ
    reference = gflop_step / REFERENCE_VAC_SECONDS
    needed = 2 * reference
    if needed <= ceiling:
        return f"2x the reference needs {needed:.0f} of at most {ceiling:.0f} GFLOP/s: possible"
    return (
        f"the reference runs at {reference:.0f} GFLOP/s for the same {gflop_step:.1f} GFLOP; "
        f"2x faster needs {needed:.0f} GFLOP/s, above this CPU's float32 FMA peak of "
        f"{ceiling:.0f} GFLOP/s ({cores} cores x {per_cycle} FLOP/cycle x {MAX_BOOST_GHZ} GHz): "
        "impossible for any implementation of the same arithmetic"
    )


def format_table(rows: dict[str, dict[str, float]], peak: tuple[float, float]) -> str:
    cores = os.cpu_count() or 1
    lines = [
        f"measured float32 matmul peak: {peak[0] / 1e9:.1f} GFLOP/s wall, "
        f"{peak[1] / 1e9:.1f} GFLOP per CPU-second (x {cores} cores = "
        f"{cores * peak[1] / 1e9:.0f} GFLOP/s on an idle machine)",
        "| stage (config) | batch x T | step s (wall) | CPU-s/step | idle step s "
        "| examples/s (idle) | frames/s (idle) | GFLOP/step | % of matmul peak, wall "
        "| % of peak, CPU time | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in rows.items():
        b = BENCHES[key]
        lines.append(
            f"| {b.name} ({b.size}) | {b.batch}x{b.frames} | {r['step_s']:.3f} "
            f"| {r['cpu_s']:.2f} | {r['idle_step_s']:.3f} | {b.batch / r['idle_step_s']:.1f} "
            f"| {b.batch * b.frames / r['idle_step_s']:.0f} | {r['gflop_step']:.1f} "
            f"| {100 * r['mfu']:.1f} | {100 * r['mfu_cpu']:.1f} | >= {100 * b.target_mfu:.0f} |"
        )
    if "cslr_vac" in rows:
        r = rows["cslr_vac"]
        lines.append(
            f"vac_baseline vs PyTorch reference ({REFERENCE_VAC_SECONDS} s/step, "
            f"{8 * 256 / REFERENCE_VAC_SECONDS:.0f} frames/s): "
            f"{REFERENCE_VAC_SECONDS / r['step_s']:.2f}x faster at the measured wall time, "
            f"{REFERENCE_VAC_SECONDS / r['idle_step_s']:.2f}x at CPU-s / {cores} cores "
            "(an idle machine; target >= 2x)"
        )
        lines.append(vac_ceiling_note(r["gflop_step"]))
    return "\n".join(lines)


def run_all(stages: list[str], steps: int) -> tuple[dict[str, dict[str, float]], tuple]:
    peak = matmul_peak()
    rows = {}
    for key in stages:
        rows[key] = run_bench(BENCHES[key], steps, peak)
        print(f"[train_step] {key}: {rows[key]}", flush=True)
    return rows, peak


_STAGES = flags.DEFINE_list("stages", list(BENCHES), f"Benchmarks among {list(BENCHES)}.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps (median reported).")


def main(argv) -> None:
    del argv
    rows, peak = run_all(_STAGES.value, _STEPS.value)
    print(format_table(rows, peak))


if __name__ == "__main__":
    app.run(main)
