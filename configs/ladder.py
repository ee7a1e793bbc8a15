"""The size ladder with where each rung runs: mesh layout and target TPU topology.

Rungs ``ladder0`` .. ``ladder5`` of ``configs/models.py`` (about 1M to 1B
parameters for the fusion stage, Pose2Gloss, and for the CSLR stage; their
widths live there). Here each rung gets its launch plan: a TPU topology, a
(data, fsdp, tensor) mesh over its chips, the global batch (about four clips
per chip at the rung's sequence length) and bfloat16 compute. Small rungs are
pure data parallel; from ``ladder3`` the parameters and Adam moments are
sharded over ``fsdp`` (ZeRO-3) so that they stop dominating HBM, and the 1B
rung adds 2-way tensor parallelism.

Check a rung before paying for it (per-chip memory estimate, then the
compiled step's memory, FLOPs and estimated MFU; needs libtpu)::

    python -m signx_jax.aot --stage cslr --size ladder3
    python -m signx_jax.aot --all

Train it (``arg`` is ``stage,rung``)::

    python -m signx_jax.train.main --config configs/ladder.py:cslr,ladder3 \
        --config.data.latent_dir=LATENTS --workdir=runs/ladder3
"""

from __future__ import annotations

import ml_collections

from configs.common import train_config

# rung: (topology, mesh (data, fsdp, tensor), global batch)
PLAN: dict[str, tuple[str, tuple[int, int, int], int]] = {
    "ladder0": ("v5e:2x2", (4, 1, 1), 32),
    "ladder1": ("v5e:2x2", (4, 1, 1), 32),
    "ladder2": ("v5e:2x4", (8, 1, 1), 32),
    "ladder3": ("v5e:4x4", (4, 4, 1), 64),
    "ladder4": ("v5p:2x2x4", (2, 8, 1), 64),
    "ladder5": ("v5p:4x4x4", (4, 8, 2), 128),
}
STAGES = ("pose2gloss", "video2pose", "cslr")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """``stage,rung``, e.g. ``cslr,ladder3`` (default ``cslr,ladder0``)."""
    stage, _, rung = (arg or "cslr,ladder0").partition(",")
    rung = rung or "ladder0"
    if rung not in PLAN:
        raise ValueError(f"configs/ladder.py: unknown rung {rung!r}; expected one of {list(PLAN)}")
    c = train_config(stage, rung)
    topology, (data, fsdp, tensor), batch = PLAN[rung]
    c.topology = topology
    c.mesh = ml_collections.ConfigDict(dict(data=data, fsdp=fsdp, tensor=tensor))
    c.data.batch_size = batch
    c.data.eval_batch_size = batch
    c.model.dtype = "bfloat16"  # TPU compute dtype; parameters stay float32
    if stage == "video2pose":
        c.stage1_model.dtype = "bfloat16"
        c.data.train_window = 32  # frame-level regression on random 32-frame windows
    if stage == "cslr":
        c.data.buckets = (64, 128, 256)  # PHOENIX clips are <= ~300 frames
    return c
