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
compiled step's memory, FLOPs and estimated MFU; needs libtpu, which
``bash launch/local.sh test`` puts in ``<venv>/.libtpu``)::

    python -m signx_jax.aot --stage cslr --size ladder3
    python -m signx_jax.aot --all     # table: signx_jax/benchmarks/results/aot_all.md

Train a rung as one stage of a dataset's recipe, with the rung's mesh, batch and
dtype from ``get_config("<stage>,<rung>")`` as overrides::

    python -m signx_jax.main --config configs/phoenix2014t.py:ladder3 --workdir=runs/ladder3 \
        --steps stage3 --config.stage3.mesh.fsdp=4 --config.stage3.model.dtype=bfloat16
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


def scaling_config() -> ml_collections.ConfigDict:
    """The CPU scaling sweep of ``python -m signx_jax.scaling`` (about 20-25 min on 2 cores).

    Model size is the CSLR temporal width (BiLSTM 2 x width/2); the data are
    synthetic latent sentences (``signx_jax/scaling.py``), identical for all sizes.
    """
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.variant = "vac_baseline"  # conv + BiLSTM + CTC: the part of stage 3 that sets WER
    c.sizes = (16, 32, 64, 128)  # temporal width per model size
    c.train_sizes = (64, 512)  # train clips
    c.steps = (25, 50, 100, 200, 400)  # evaluation milestones (compute budgets)
    c.lr = 2e-3  # constant, so a milestone is a fair shorter run
    c.batch_size = 16
    c.dev_size = 128
    # Corpus: glosses are random prototypes in the latent space.
    c.corpus_seed = 1234
    c.latent_dim = 64
    c.num_glosses = 40
    c.frames = 64
    c.min_glosses = 2
    c.max_label_len = 6
    c.frames_per_gloss = (6, 12)
    c.noise = 1.0
    c.drift = 0.05
    return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """``stage,rung``, e.g. ``cslr,ladder3`` (default ``cslr,ladder0``); ``scaling``
    gives the CPU scaling sweep."""
    if arg == "scaling":
        return scaling_config()
    stage, _, rung = (arg or "cslr,ladder0").partition(",")
    rung = rung or "ladder0"
    if rung not in PLAN:
        raise ValueError(f"configs/ladder.py: unknown rung {rung!r}; expected one of {list(PLAN)}")
    c = tpu_settings(train_config(stage, rung))
    topology, (data, fsdp, tensor), batch = PLAN[rung]
    c.topology = topology
    c.mesh = ml_collections.ConfigDict(dict(data=data, fsdp=fsdp, tensor=tensor))
    c.data.batch_size = batch
    c.data.eval_batch_size = batch
    return c


def tpu_settings(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A stage config's TPU run settings (every rung's; ``python -m signx_jax.aot`` gives
    them to any size)."""
    c.model.dtype = "bfloat16"  # TPU compute dtype; parameters stay float32
    if c.stage == "video2pose":
        c.stage1_model.dtype = "bfloat16"
        c.data.train_window = 32  # frame-level regression on random 32-frame windows
    if c.stage == "cslr":
        c.data.buckets = (64, 128, 256)  # PHOENIX clips are <= ~300 frames
    return c
