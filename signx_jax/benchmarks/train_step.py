"""Train-step throughput of each SignX stage on this machine (README "Benchmarks and scaling").

For each stage at a stated config (the real ``Trainer`` and ``Task``, float32,
one device, fixed seeds) prints the measured wall-clock step time, examples/s,
frames/s and the model's FLOP/s as a fraction of this machine's float32 matmul
rate measured in the same run (a jitted square matmul). CPU-seconds per wall
second shows how many cores the step keeps busy. Model FLOPs are XLA's cost
analysis of the compiled step plus the BiLSTM recurrent matmuls XLA counts
only once per scan.

The ``vac_baseline`` row is the VAC CSLR stack (Conv1D K5-P2-K5-P2 + 2 x
BiLSTM + CTC, Adam) at batch 8, T = 256 frames, 1024-d input and 1,296
classes. It is timed against two references run in the same process, turn by
turn: the same stack in plain JAX (``vac_jax.py``) and in PyTorch
(``vac_torch.py``, a subprocess in its own virtual environment; built by the
command in its docstring, found at ``--torch_python``)::

    python -m signx_jax.benchmarks.train_step
    python -m signx_jax.benchmarks.train_step --stages cslr_vac --steps 10 --rounds 3
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags

from configs import demo
from configs.common import train_config
from data_pipelines.synthetic import grammar
from signx_jax import schema
from signx_jax.aot import make_task
from signx_jax.benchmarks import vac_jax
from signx_jax.models.summary import train_step_flops
from signx_jax.train.loop import Trainer
from signx_jax.train.mfu import matmul_peak, timed

NUM_SPECIAL = len(schema.SPECIAL_TOKENS)
# The main job's vocabulary: the built-in grammar's glosses and the special tokens.
DEMO_VOCAB = len(grammar.builtin_vocabulary()) + NUM_SPECIAL


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
    # The main job's steps (configs/demo.py, its batch and a 128-frame bucket;
    # Video2Pose trains on 32-frame windows), README "Benchmarks and scaling".
    "main_pose2gloss": Bench("main job stage 1", "pose2gloss", "demo", 16, 128, DEMO_VOCAB),
    "main_video2pose": Bench("main job stage 2", "video2pose", "demo", 8, 32, DEMO_VOCAB),
    "main_cslr": Bench("main job stage 3", "cslr", "demo", 16, 128, DEMO_VOCAB),
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
    if b.size == "demo":
        c = demo.get_config()
        cfg = next(c[k] for k in ("stage1", "stage2", "stage3") if c[k].stage == b.stage)
    else:
        cfg = train_config(b.stage, b.size, variant=b.variant)
    for key, value in b.model:
        cfg.model[key] = value
    if b.variant == "vac_baseline":
        cfg.model.conv_channels = cfg.model.temporal_width
    cfg.data.batch_size = b.batch
    cfg.data.buckets = (b.frames,)
    if b.size != "demo":
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


def _step_times(step, steps: int) -> tuple[list[float], list[float]]:
    walls, cpus = zip(*(timed(step) for _ in range(steps)), strict=True)
    return list(walls), list(cpus)


def bench_step(b: Bench):
    """(a blocking zero-argument train step of the project's Trainer, its FLOPs, compile s)."""
    cfg = bench_config(b)
    task = make_task(cfg, b.vocab)
    trainer = Trainer(cfg, task)
    batch = jax.device_put(random_batch(cfg, task, b.vocab))
    flops = train_step_flops(trainer, batch)
    t0 = time.perf_counter()
    jax.block_until_ready(trainer.train_step(batch))  # compile
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(trainer.train_step(batch))
    return lambda: jax.block_until_ready(trainer.train_step(batch)), flops, compile_s


def summarize(b: Bench, walls, cpus, flops: float, peak: float) -> dict:
    sec, cpu = float(np.median(walls)), float(np.median(cpus))
    return dict(
        step_s=sec,
        cores_busy=cpu / sec,
        examples_s=b.batch / sec,
        frames_s=b.batch * b.frames / sec,
        gflop_step=flops / 1e9,
        mfu=flops / sec / peak,
    )


def run_bench(b: Bench, steps: int, peak: float) -> dict[str, float]:
    step, flops, compile_s = bench_step(b)
    return dict(summarize(b, *_step_times(step, steps), flops, peak), compile_s=compile_s)


def torch_step_times(python: str, b: Bench, steps: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per step of ``vac_torch.py`` run by ``python``."""
    script = os.path.join(os.path.dirname(__file__), "vac_torch.py")
    args = [python, script, "--steps", str(steps), "--batch", str(b.batch)]
    args += ["--frames", str(b.frames), "--classes", str(b.vocab)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["wall_s"], result["cpu_s"]


def run_vac(steps: int, rounds: int, peak, torch_python: str | None) -> dict[str, dict]:
    """The project's vac_baseline step, plain JAX and PyTorch, ``rounds`` turns each.

    Turn by turn (PyTorch, ours, plain JAX, then again) so that a change in the
    machine's load hits all three alike; each row is the median over all turns.
    """
    b = BENCHES["cslr_vac"]
    ours, flops, compile_s = bench_step(b)
    plain = vac_jax.make_step(b.batch, b.frames, 1024, 512, b.vocab)
    plain()
    plain()
    times = {"ours": ([], []), "plain JAX": ([], []), "PyTorch": ([], [])}
    for _ in range(rounds):
        if torch_python:
            for acc, new in zip(
                times["PyTorch"], torch_step_times(torch_python, b, steps), strict=True
            ):
                acc.extend(new)
        for name, step in (("ours", ours), ("plain JAX", plain)):
            for acc, new in zip(times[name], _step_times(step, steps), strict=True):
                acc.extend(new)
    rows = {name: summarize(b, *t, flops, peak) for name, t in times.items() if t[0]}
    rows["ours"]["compile_s"] = compile_s
    return rows


def format_table(rows: dict[str, dict[str, float]], peak: float) -> str:
    lines = [
        f"measured float32 matmul rate: {peak / 1e9:.0f} GFLOP/s (wall clock, this run)",
        "| step (config) | batch x T | step s | CPU-s / wall s | examples/s | frames/s "
        "| GFLOP/step | % of matmul rate | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in rows.items():
        b = BENCHES[key]
        target = f">= {100 * b.target_mfu:.0f}" if b.target_mfu else "-"
        lines.append(
            f"| {b.name} ({b.size}) | {b.batch}x{b.frames} | {r['step_s']:.3f} "
            f"| {r['cores_busy']:.2f} | {r['examples_s']:.1f} | {r['frames_s']:.0f} "
            f"| {r['gflop_step']:.1f} | {100 * r['mfu']:.1f} | {target} |"
        )
    return "\n".join(lines)


def format_vac(rows: dict[str, dict[str, float]], torch_python: str | None) -> str:
    """The VAC comparison: wall-clock step time and speed relative to PyTorch."""
    ref = rows.get("PyTorch")
    lines = [
        "VAC stack, batch 8 x 256 frames, 1024-d, 1,296 classes, Adam (medians, same run):",
        "| implementation | step s (wall) | CPU-s / wall s | frames/s | speed vs PyTorch |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        ratio = f"{ref['step_s'] / r['step_s']:.2f}x" if ref else "-"
        lines.append(
            f"| {name} | {r['step_s']:.3f} | {r['cores_busy']:.2f} | {r['frames_s']:.0f} "
            f"| {ratio} |"
        )
    if not ref:
        lines.append(
            f"(no PyTorch reference: {torch_python or '--torch_python'} not found; build it "
            "with the commands in signx_jax/benchmarks/vac_torch.py)"
        )
    return "\n".join(lines)


def run_all(stages: list[str], steps: int) -> tuple[dict[str, dict[str, float]], tuple]:
    peak = matmul_peak()
    rows = {}
    for key in stages:
        rows[key] = run_bench(BENCHES[key], steps, peak)
        print(f"[train_step] {key}: {rows[key]}", flush=True)
    return rows, peak


_STAGES = flags.DEFINE_list("stages", list(BENCHES), f"Benchmarks among {list(BENCHES)}.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per turn (median reported).")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Turns of PyTorch / ours / plain JAX for VAC.")
_TORCH = flags.DEFINE_string(
    "torch_python", ".venv-torch/bin/python", "Python of the PyTorch venv (vac_torch.py)."
)


def torch_python() -> str | None:
    return _TORCH.value if _TORCH.value and os.path.exists(_TORCH.value) else None


def report() -> tuple[str, dict[str, dict[str, float]]]:
    """The flags' stages as tables (the stage rows, then VAC against its references)."""
    stages = [s for s in _STAGES.value if s != "cslr_vac"]
    rows, peak = run_all(stages, _STEPS.value)
    tables = [format_table(rows, peak)] if stages else []
    if "cslr_vac" in _STAGES.value:
        vac = run_vac(_STEPS.value, _ROUNDS.value, peak, torch_python())
        tables.append(format_vac(vac, torch_python()))
    return "\n\n".join(tables), rows


def main(argv) -> None:
    del argv
    print(report()[0])


if __name__ == "__main__":
    app.run(main)
