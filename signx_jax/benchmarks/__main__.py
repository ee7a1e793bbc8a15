r"""Every benchmark table in one run (README "Benchmarks and scaling")::

    python -m signx_jax.benchmarks            # about 15-25 min on 2 busy CPU cores
    python -m signx_jax.benchmarks --parts train,inference --steps 3

Parts (fixed seeds; float32 on one CPU device unless stated):

* ``train``      per-stage train step: wall-clock step time, examples/s, frames/s
                 and FLOP/s as a share of the matmul rate measured in the same
                 run, plus the vac_baseline CSLR step against the same stack in
                 plain JAX and in PyTorch, timed turn by turn
                 (``signx_jax/benchmarks/train_step.py``);
* ``pipeline``   Grain train batches (records/s) vs the stage-1 step's
                 consumption and vs a raw sequential read of the same shards
                 (``signx_jax/benchmarks/input_pipeline.py``);
* ``inference``  the demo model (configs/demo.py sizes, random weights: speed
                 only), one clip at a time: RGB frames -> Video2Pose ->
                 Pose2Gloss encoder -> CSLR -> greedy CTC glosses, vs CSLR on
                 cached latents, and their ratio (the paper's Table 8 speed-up);
* ``sharding``   parameter + Adam bytes per device on 8 simulated CPU devices,
                 pure data parallel vs fsdp (a subprocess with
                 ``--xla_force_host_platform_device_count=8``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from flax import nnx

from signx_jax import schema
from signx_jax.benchmarks import input_pipeline, train_step

_PARTS = flags.DEFINE_list("parts", ["train", "pipeline", "inference", "sharding"], "Parts to run.")
_SHARDING_CHILD = flags.DEFINE_bool(
    "sharding_child", False, "Internal: run the sharding part here."
)
_INFER_FRAMES = flags.DEFINE_integer("infer_frames", 128, "Frames per clip for the inference part.")


# -- inference --------------------------------------------------------------------------


def _demo_models():
    from configs import demo
    from signx_jax.models.cslr import CSLR
    from signx_jax.models.pose2gloss import Pose2Gloss
    from signx_jax.models.video2pose import Video2Pose

    c = demo.get_config()
    vocab = 64  # the synthetic corpus vocabulary is of this order; speed only
    rngs = nnx.Rngs(0)
    v2p = Video2Pose(c.stage2.model, rngs=rngs)
    p2g = Pose2Gloss(c.stage1.model, vocab, rngs=rngs)
    cslr = CSLR(c.stage3.model, vocab, rngs=rngs)
    return c, v2p, p2g, cslr


def _fps(fn, args, frames: int, repeats: int = 10) -> tuple[float, float]:
    """(frames/s by the wall clock, frames/s at CPU-s / cores: an idle machine)."""
    jax.block_until_ready(fn(*args))
    times = [train_step.timed(lambda: jax.block_until_ready(fn(*args))) for _ in range(repeats)]
    wall, cpu = np.median(np.asarray(times), axis=0)
    return frames / wall, frames / (cpu / (os.cpu_count() or 1))


def inference_part() -> str:
    from signx_jax.decoding import ctc_greedy
    from signx_jax.models.video2pose import video_to_latent

    c, v2p, p2g, cslr = _demo_models()
    t, hw = _INFER_FRAMES.value, c.stage2.model.image_size
    rng = np.random.default_rng(0)
    rgb = jnp.asarray(rng.integers(0, 256, (1, t, hw, hw, 3), dtype=np.uint8))
    mask = jnp.ones((1, t), bool)
    prune = jnp.ones((c.stage3.model.latent_dim,), jnp.float32)

    def glosses(cslr, z, mask):
        out = cslr(z, mask, prune, None, deterministic=True)
        return ctc_greedy(out["ctc_logits"], out["out_lengths"], blank=schema.BLANK_ID)[0]

    @nnx.jit
    def video_to_gloss(v2p, p2g, cslr, rgb, mask):
        return glosses(cslr, video_to_latent(v2p, p2g, rgb, mask), mask)

    @nnx.jit
    def latent_to_gloss(cslr, z, mask):
        return glosses(cslr, z, mask)

    z = jnp.asarray(rng.normal(size=(1, t, c.stage3.model.latent_dim)), jnp.float32)
    video_fps = _fps(video_to_gloss, (v2p, p2g, cslr, rgb, mask), t)
    latent_fps = _fps(latent_to_gloss, (cslr, z, mask), t)
    return "\n".join([
        f"| inference, demo model, batch 1 x {t} frames ({hw}x{hw} RGB) | frames/s wall "
        "| frames/s idle | target |",
        "|---|---:|---:|---:|",
        f"| video -> gloss (Video2Pose, Pose2Gloss encoder, CSLR, CTC) | {video_fps[0]:.0f} "
        f"| {video_fps[1]:.0f} | >= 30 |",
        f"| latent cache -> gloss (CSLR + CTC) | {latent_fps[0]:.0f} | {latent_fps[1]:.0f} | |",
        f"latent-space speed-up (Table 8): {latent_fps[0] / video_fps[0]:.1f}x wall, "
        f"{latent_fps[1] / video_fps[1]:.1f}x idle",
    ])  # fmt: skip


# -- sharding ---------------------------------------------------------------------------


def _per_device_bytes(state, shardings) -> tuple[float, float]:
    """(bytes on device 0, unsharded bytes) of params + optimizer state."""
    local = total = 0.0
    parts = (state.params, state.opt_state), (shardings.params, shardings.opt_state)
    for x, s in zip(jax.tree.leaves(parts[0]), jax.tree.leaves(parts[1]), strict=True):
        size = np.dtype(x.dtype).itemsize
        total += size * np.prod(x.shape)
        local += size * np.prod(s.shard_shape(x.shape))
    return local, total


def sharding_child() -> str:
    from configs.common import train_config
    from signx_jax import aot
    from signx_jax import sharding as shd

    lines = [
        f"| params + Adam, {len(jax.devices())} simulated devices | mesh (data, fsdp, tensor) "
        "| MiB per device | of unsharded |",
        "|---|---|---:|---:|",
    ]
    for stage in ("pose2gloss", "cslr"):
        cfg = train_config(stage, "base")
        task = aot.make_task(cfg)
        for sizes in ((8, 1, 1), (1, 8, 1), (2, 4, 1), (1, 4, 2)):
            mesh = shd.make_mesh(*sizes)
            trainer = aot.abstract_trainer(cfg, task, mesh)
            local, total = _per_device_bytes(trainer.state, trainer.state_sharding)
            lines.append(
                f"| {stage} base ({trainer.num_params / 1e6:.1f}M) | {sizes} "
                f"| {local / 2**20:.1f} | {100 * local / total:.1f} % |"
            )
    return "\n".join(lines)


def sharding_part() -> str:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    cmd = [sys.executable, "-m", "signx_jax.benchmarks", "--sharding_child"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        return f"sharding part failed:\n{out.stderr[-2000:]}"
    return out.stdout.strip()


def main(argv) -> None:
    del argv
    if _SHARDING_CHILD.value:
        print(sharding_child())
        return
    parts, tables = _PARTS.value, []
    t0 = time.perf_counter()
    consumer = None
    if "train" in parts:
        table, rows = train_step.report()
        tables.append(table)
        consumer = rows.get("pose2gloss", {}).get("examples_s")
    if "pipeline" in parts:
        tables.append(input_pipeline.table(None, consumer))  # 128 random pose clips
    if "inference" in parts:
        tables.append(inference_part())
    if "sharding" in parts:
        tables.append(sharding_part())
    print(f"\n# signx-jax benchmarks ({jax.devices()[0].platform}, {os.cpu_count()} CPUs, "
          f"{time.perf_counter() - t0:.0f} s)\n")  # fmt: skip
    print("\n\n".join(tables))


if __name__ == "__main__":
    app.run(main)
