"""Shared builder of training configs: one ``train_config(stage, ...)`` that the
per dataset x stage files (``configs/<dataset>_<stage>.py``) specialise.

Fields every stage has:
  seed, stage, dataset
  data.*   where shards live and how batches are built
  model.*  from configs/models.py (sizes and ablation variants)
  optim.*  ``optim_config`` below (paper Table 6 / section 4.2)
  train.*  steps, logging, evaluation, checkpoints, NaN policy
  mesh.*   (data, fsdp, tensor) device counts; -1 = the rest
  loss.*   stage-specific weights
Override anything from the command line: ``--config.train.total_steps=100``.

The config files' arg is ``size[,ablation...]`` (configs/models.py, parse_model_arg):
``configs/phoenix2014t_cslr.py:base,vac_baseline`` (a CSLR variant) or
``configs/phoenix2014t_pose2gloss.py:base,no_sapiens`` (stage 1 without a stream; the
stage-2 config of that run takes the same ablation for its frozen stage 1).
"""

from __future__ import annotations

import ml_collections

from configs import models

STAGES = ("pose2gloss", "video2pose", "cslr")


def train_config(
    stage: str, size: str = "tiny", *, dataset: str = "synthetic", variant: str = "signx"
) -> ml_collections.ConfigDict:
    if stage not in STAGES:
        raise ValueError(f"configs/common.py: unknown stage {stage!r}; expected one of {STAGES}")
    size, arg_variant, dropped = models.parse_model_arg(size)
    if (arg_variant and stage != "cslr") or (dropped and stage == "cslr"):
        raise ValueError(
            f"configs/common.py: {stage} takes no {arg_variant or dropped} ablation (CSLR "
            "variants are stage 3's; stream ablations act on stage 1, stage 3 reads its latents)"
        )
    variant = arg_variant or variant
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.stage = stage
    c.dataset = dataset

    c.data = ml_collections.ConfigDict()
    c.data.data_dir = ""  # pose shards + vocab.json (stages 1-2)
    c.data.latent_dir = ""  # latent cache shards (stage 3)
    c.data.train_split = "train"
    c.data.dev_split = "dev"
    c.data.test_split = "test"
    c.data.batch_size = 32  # Table 6
    c.data.eval_batch_size = 32
    c.data.buckets = (64, 128, 256, 512)
    c.data.max_label_len = 64  # Table 6 max length
    c.data.worker_count = 0  # Grain worker processes (0 = in process)
    c.data.read_threads = 4  # Grain read threads per process
    c.data.prefetch_batches = 8  # Grain read-ahead buffer
    c.data.task = "recognition"  # or "translation" (Sign2Text, stage 3)
    c.data.num_views = 10  # stage 3: deterministic latent views per clip
    c.data.view_noise_var = 0.01  # ... each with Gaussian noise of this variance (section 4.1)
    c.data.skip_corrupt = False
    c.data.nonfinite_inputs = "mask"  # NaN/Inf in poses/latents: "mask" (zero + count) | "error"
    # Train on random windows of this many frames (0 = whole clips). Only for
    # frame-level objectives: stage 2 regresses poses frame by frame.
    c.data.train_window = 0
    # Stage 2: per-clip colour augmentation of the RGB frames at train time
    # (0 = off; s = channel gains in 1 +- s, offsets +- s/2, shuffled channels),
    # so Video2Pose cannot key on a training signer's skin or clothing colours.
    c.data.colour_jitter = 0.0

    if stage == "pose2gloss":
        c.model = models.pose2gloss_config(size, dropped)
    elif stage == "video2pose":
        c.model = models.video2pose_config(size)
        c.stage1_model = models.pose2gloss_config(size, dropped)
        c.stage1_workdir = ""  # where stage 1 was trained (its released params)
    else:
        c.model = models.cslr_config(size, variant)
    c.optim = optim_config(stage)

    c.train = ml_collections.ConfigDict()
    # Steps are optimizer updates of optim.grad_accum_steps micro-batches each.
    c.train.total_steps = 30_000 if stage == "cslr" else 20_000
    c.train.log_every = 50
    c.train.eval_every = 1000
    c.train.checkpoint_every = 1000
    c.train.keep_best = 5  # best-k by dev WER; the released model averages them
    c.train.best_metric = "dev_pose_mse" if stage == "video2pose" else "dev_wer"
    c.train.async_checkpoints = True
    c.train.max_nonfinite_streak = 20  # consecutive NaN/Inf micro-batches before stopping
    c.train.min_free_bytes = 0  # extra free disk required beyond keep_best + 2 checkpoints

    c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))

    c.loss = ml_collections.ConfigDict()
    if stage == "pose2gloss":
        c.loss.text_weight = 1.0
        c.loss.word_weight = 1.0
        c.loss.contrast_weight = 1.0
        # A CTC loss on z through the contrastive space (Pose2Gloss.frame_gloss_logits):
        # not in the paper, off by default; README "Real gloss text".
        c.loss.ctc_weight = 0.0
        # Gaussian noise on the input poses, in units of each dimension's sd (0 = off;
        # ours, not in the paper): an encoder that tolerates Video2Pose's pose errors.
        c.loss.pose_noise = 0.0
        c.loss.label_smoothing = 0.1
        c.loss.temperature = 0.07
        c.loss.teacher_forcing_start = 0.5
        c.loss.teacher_forcing_end = 0.0
        # Dev decoding of the CodeBook decoder: "attention" = beam search with
        # the paper's Table 6 inference defaults, or "greedy" (cheaper to compile).
        c.decode = ml_collections.ConfigDict()
        c.decode.method = "attention"
        c.decode.beam = 5
        c.decode.length_penalty = 0.7
        c.decode.repetition_penalty = 2.5
    elif stage == "video2pose":
        # Eq. 14; latent_weight adds ||E(P_hat) - E(P)||^2 through the frozen
        # stage-1 encoder (ours: it aligns the video route with the pose route).
        c.loss.latent_weight = 1.0
    else:
        c.loss.ce_weight = 1.0
        c.loss.ctc_weight = 0.3  # sltunet: CTC weight 0.3 on the encoder
        c.loss.kd_weight = 0.5
        c.loss.kd_temperature = 1.0
        c.loss.lipschitz_weight = 0.01
        c.loss.lipschitz_bound = 1.0
        c.loss.label_smoothing = 0.1
        c.pruning = ml_collections.ConfigDict()
        c.pruning.enabled = c.model.use_pruning
        c.pruning.every = 500  # K
        c.pruning.start = 1000
        c.pruning.keep_dims = c.model.latent_dim // 2  # about 1024 of 2048
        c.pruning.ema = 0.99
        c.decode = ml_collections.ConfigDict()
        # Final evaluation: ctc_greedy | ctc_beam | attention | joint (README "Design").
        c.decode.method = "joint" if c.model.use_decoder else "ctc_beam"
        c.decode.beam = 8
        c.decode.entropy_alpha = 0.0
        c.decode.length_penalty = 1.0  # GNMT alpha (sltunet)
        c.decode.repetition_penalty = 1.0
        c.decode.ctc_weight = 0.3  # joint: lambda * ctc + (1 - lambda) * attention
        # The evaluate step also picks each route's decoder on dev (README "Decoding
        # and evaluation"): CTC greedy, CTC beam, and joint decoding at these values.
        c.decode.choose_on_dev = True
        c.decode.dev_ctc_weights = (0.0, 0.3, 0.5, 0.7, 0.9)
        c.decode.dev_length_penalties = (0.0, 0.5, 1.0, 1.5)
    return c


def cslr_variant(c: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """A copy of the stage-3 config ``c`` with one component off (configs/models.py
    ``CSLR_VARIANTS``; paper Figure 4): the model, the pruning and the decoding follow."""
    c = c.copy_and_resolve_references()
    models.apply_cslr_variant(c.model, variant)
    c.pruning.enabled = c.model.use_pruning
    c.decode.method = "joint" if c.model.use_decoder else "ctc_beam"
    return c


def optim_config(stage: str) -> ml_collections.ConfigDict:
    """``config.optim`` of a stage (fields: signx_jax/train/optimizers.py).

    Defaults: paper Table 6 (stages 1-2), section 4.2 + README "Design" (CSLR)."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="adamw",
            schedule="cosine",
            lr=1e-3,
            warmup_fraction=0.05,
            end_factor=0.05,
            noam_d_model=256,
            noam_warmup=4000,
            noam_scale=1.0,
            min_lr=0.0,
            max_lr=1.0,
            b1=0.9,
            b2=0.999,
            eps=1e-8,
            weight_decay=0.01,
            decay_matrices_only=True,
            clip_norm=7.0,
            grad_accum_steps=4,
        )
    )
    if stage == "pose2gloss":
        pass  # Table 6 stage 1: warmup "2-10 %", we take 5 %.
    elif stage == "video2pose":
        # Table 6 stage 2: cosine to 0.01 x, warmup 10 %, clip 1.0, no accumulation.
        cfg.update(warmup_fraction=0.10, end_factor=0.01, clip_norm=1.0, grad_accum_steps=1)
    elif stage == "cslr":
        # sltunet example/train.sh: Adam(0.9, 0.998), lrate 1.0, warmup 4000,
        # update_cycle 16, clip_grad_norm 0 (off); epsilon 1e-9 and the
        # [0, 1] clamp are its defaults.
        cfg.update(
            name="adam",
            schedule="noam",
            b2=0.998,
            eps=1e-9,
            weight_decay=0.0,
            clip_norm=0.0,
            grad_accum_steps=16,
        )
    else:
        raise ValueError(f"configs/common.py: unknown stage {stage!r}; expected one of {STAGES}")
    return cfg
