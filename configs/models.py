"""Model size presets for the three SignX stages (paper sections 3.2-4.2).

Every dimension of ``signx_jax.models`` lives here and nowhere else.

* ``pose2gloss_config(size)``  stage 1, the fusion ViT + CodeBook decoder;
* ``video2pose_config(size)``  stage 2, spatial ViT + temporal attention;
* ``cslr_config(size, variant)`` stage 3, CSLR in the latent space.

``size`` is ``tiny`` (CPU unit tests, a jitted step well under a second),
``small``, ``base`` (the paper's sizes) or a rung ``ladder0`` .. ``ladder5`` of
the scaling ladder (about 1M to 1B parameters for stages 1 and 3; see
``LADDER``). Print a table with::

    python -m signx_jax.models summary --stage all --size base

Where the paper is silent the choice is ours and marked ``# ours``.
"""

from __future__ import annotations

import ml_collections

from signx_jax.schema import STREAM_NAMES

SIZES = ("tiny", "small", "base")
# Paper Figure 4 (a)-(d) and section 3.3: the full recogniser, and one component off.
CSLR_VARIANTS = (
    "signx",
    "vac_baseline",
    "no_transformer",
    "single_scale_conv",
    "no_pruning",
    "no_distillation",
    "no_feature_compilation",
)
# Per-stream ablations: stages 1-2 trained without one or more streams (the paper's
# Table 9 zeroes a stream at a trained Video2Pose instead: signx_jax/paper.py).
STREAM_ABLATIONS = tuple(f"no_{name}" for name in STREAM_NAMES)

# Scaling ladder: one width/depth setting per rung, shared by the fusion
# encoder (stage 1) and the CSLR stage (stage 3) so that a rung's latent dim
# matches across stages. Parameter counts (vocab 1124), CSLR / Pose2Gloss:
# 1.1M/0.5M, 4.0M/2.5M, 18M/16M, 83M/94M, 328M/493M, 944M/864M;
# ``python -m signx_jax.models summary --size ladderN`` prints them.
LADDER: dict[str, dict[str, int]] = {
    # latent: z dim; hidden: stream/fusion width; layers: ViT = enc = dec depth;
    # width: transformer width; temporal: conv/BiLSTM width.
    "ladder0": dict(latent=128, hidden=32, layers=1, width=64, heads=2, temporal=128),
    "ladder1": dict(latent=256, hidden=64, layers=2, width=128, heads=4, temporal=256),
    "ladder2": dict(latent=512, hidden=128, layers=4, width=256, heads=4, temporal=512),
    "ladder3": dict(latent=1024, hidden=256, layers=6, width=512, heads=8, temporal=1024),
    "ladder4": dict(latent=2048, hidden=512, layers=8, width=1024, heads=16, temporal=1536),
    "ladder5": dict(latent=2048, hidden=768, layers=12, width=1536, heads=16, temporal=2048),
}


def _check_size(size: str) -> None:
    if size not in SIZES and size not in LADDER:
        raise ValueError(f"configs/models.py: unknown size {size!r}; use {SIZES} or {list(LADDER)}")


def parse_model_arg(arg: str) -> tuple[str, str | None, tuple[str, ...]]:
    """``size[,ablation...]`` -> (size, CSLR variant or None, dropped streams).

    An ablation is a CSLR variant (``base,vac_baseline``) or ``no_<stream>``
    (``base,no_sapiens,no_primedepth``); the stage configs take this as their arg.
    """
    size, *names = (part.strip() for part in arg.split(","))
    variants = [n for n in names if n in CSLR_VARIANTS]
    dropped = tuple(n.removeprefix("no_") for n in names if n in STREAM_ABLATIONS)
    unknown = [n for n in names if n not in CSLR_VARIANTS and n not in STREAM_ABLATIONS]
    if unknown or len(variants) > 1:
        raise ValueError(
            f"configs/models.py: bad ablations {names} in {arg!r}; use at most one of "
            f"{CSLR_VARIANTS} and any of {STREAM_ABLATIONS}"
        )
    return size, (variants[0] if variants else None), dropped


def _common(cfg: ml_collections.ConfigDict, size: str) -> None:
    cfg.size = size
    cfg.dtype = "float32"  # compute dtype; "bfloat16" on accelerators
    cfg.param_dtype = "float32"
    cfg.remat = "none"  # one of layers.REMAT_POLICIES: none, full, dots, dots_no_batch
    cfg.summary_vocab_size = 1124  # vocab used by the summary table (PHOENIX-2014T glosses)


def pose2gloss_config(
    size: str = "tiny", drop_streams: tuple[str, ...] = ()
) -> ml_collections.ConfigDict:
    """Stage 1: per-stream MLP encoders, stream attention, PadMatch, ViT, CodeBook decoder.

    ``drop_streams``: streams the model ignores (Fig. 4 / Table 9 ablations).
    """
    _check_size(size)
    unknown = set(drop_streams) - set(STREAM_NAMES)
    if unknown or set(drop_streams) == set(STREAM_NAMES):
        raise ValueError(
            f"configs/models.py: cannot drop streams {drop_streams}; drop some of {STREAM_NAMES}"
        )
    cfg = ml_collections.ConfigDict()
    _common(cfg, size)
    cfg.streams = tuple(n for n in STREAM_NAMES if n not in drop_streams)  # enabled streams
    table = {
        #        d_h fus_h latent vit_L vit_h vit_mlp dec_W dec_L dec_h dec_mlp
        "tiny": (32, 2, 64, 2, 2, 128, 32, 2, 2, 64),
        "small": (128, 4, 512, 4, 8, 1024, 256, 3, 4, 1024),
        "base": (512, 8, 2048, 6, 16, 4096, 512, 3, 8, 2048),  # latent 2048 (paper eq. 2)
    }
    if size in LADDER:
        r = LADDER[size]
        row = (
            r["hidden"],
            r["heads"] // 2 or 1,
            r["latent"],
            r["layers"],
            r["heads"],
            4 * r["latent"],
            r["width"],
            max(r["layers"] // 2, 1),
            r["heads"],
            4 * r["width"],
        )
    else:
        row = table[size]
    (cfg.stream_hidden, cfg.fusion_heads, cfg.latent_dim, cfg.vit_layers, cfg.vit_heads,
     cfg.vit_mlp, cfg.dec_width, cfg.dec_layers, cfg.dec_heads, cfg.dec_mlp) = row  # fmt: skip
    cfg.contrastive_dim = cfg.dec_width  # ours: shared space of pooled z and pooled glosses
    cfg.max_len = 64  # Table 6
    cfg.dropout_attn = 0.1  # ours: the paper gives stage-3 rates only
    cfg.dropout_act = 0.1
    cfg.dropout_res = 0.1
    return cfg


def video2pose_config(size: str = "tiny") -> ml_collections.ConfigDict:
    """Stage 2: spatial ViT per frame -> temporal attention -> one linear head per stream."""
    _check_size(size)
    cfg = ml_collections.ConfigDict()
    _common(cfg, size)
    table = {
        #        img patch width sp_L t_L heads mlp
        "tiny": (32, 8, 64, 2, 1, 2, 128),
        "small": (112, 16, 256, 6, 2, 4, 1024),
        "base": (224, 16, 384, 12, 4, 6, 1536),  # ours: ViT-S/16 spatial backbone
    }
    if size in LADDER:
        r = LADDER[size]
        row = (
            112,
            16,
            r["width"],
            max(r["layers"], 2),
            max(r["layers"] // 2, 1),
            r["heads"],
            4 * r["width"],
        )
    else:
        row = table[size]
    (cfg.image_size, cfg.patch_size, cfg.width, cfg.spatial_layers, cfg.temporal_layers,
     cfg.heads, cfg.mlp) = row  # fmt: skip
    cfg.pool = "cls"  # "cls" or "mean" over patch tokens
    # ours: stride-2 3x3 conv stem before the patch embedding (channels per conv);
    # () = the plain linear patch embedding of ViT.
    cfg.stem_channels = ()
    # ours: fixed 2-D sin-cos patch positions (big_vision's "sincos2d"); "learn"
    # = ViT's learned table, whose 0.02-scale init leaves a pooled token blind
    # to *where* things are for hundreds of steps (pose regression needs that).
    cfg.posemb = "sincos2d"
    cfg.temporal_window = 0  # frames per temporal-attention window (0 = whole clip)
    cfg.dropout_attn = 0.0
    cfg.dropout_act = 0.0
    cfg.dropout_res = 0.1
    return cfg


def cslr_config(size: str = "tiny", variant: str = "signx") -> ml_collections.ConfigDict:
    """Stage 3: feature compilation, TemporalConv, BiLSTM, transformer, CTC, distillation."""
    _check_size(size)
    cfg = ml_collections.ConfigDict()
    _common(cfg, size)
    table = {
        # latent conv_ch temporal lstm width enc_L dec_L heads mlp student teacher_base
        "tiny": (64, 32, 64, 32, 64, 2, 2, 4, 128, 64, 16),
        "small": (512, 128, 256, 128, 128, 3, 3, 4, 1024, 256, 32),
        # paper: latent 2048, temporal 1024, BiLSTM 2 x 512, width 256, 6 + 6 layers;
        # sltunet: FFN 4096, 4 heads; ResNet-34 widths 64..512; ours: 512 per conv branch.
        "base": (2048, 512, 1024, 512, 256, 6, 6, 4, 4096, 1024, 64),
    }
    if size in LADDER:
        r = LADDER[size]
        row = (
            r["latent"],
            r["temporal"] // 2,
            r["temporal"],
            r["temporal"] // 2,
            r["width"],
            r["layers"],
            r["layers"],
            r["heads"],
            4 * r["width"],
            r["temporal"],
            max(r["temporal"] // 16, 8),
        )
    else:
        row = table[size]
    (cfg.latent_dim, cfg.conv_channels, cfg.temporal_width, cfg.lstm_hidden, cfg.width,
     cfg.enc_layers, cfg.dec_layers, cfg.heads, cfg.mlp, cfg.student_hidden,
     teacher_base) = row  # fmt: skip

    # Feature compilation (Algorithm 1). gamma and rho are not given by the paper.
    cfg.use_feature_compilation = True
    cfg.whiten_gamma = 0.5  # ours
    cfg.frame_drop = 0.1  # rho, ours
    cfg.use_pruning = True  # the prune mask multiplies z (eq. 8)

    # Multi-scale TemporalConv (Appendix C, eq. 15): each branch is `conv_levels`
    # x [Conv1D k -> BN -> ReLU -> MaxPool(pool_size, stride pool_size)].
    cfg.conv_kernels = (3, 5, 7)
    cfg.conv_levels = 2
    cfg.pool_size = 2
    cfg.conv_padding = "same"  # "same" (T -> T/4) or "valid" (VAC)
    cfg.conv_project = True  # concat branches -> Linear to temporal_width
    cfg.bn_momentum = 0.9

    cfg.lstm_layers = 2
    cfg.use_transformer = True
    cfg.use_decoder = True
    cfg.use_distillation = True
    cfg.teacher_blocks = (3, 4, 6, 3)  # ResNet-34
    cfg.teacher_channels = tuple(teacher_base * m for m in (1, 2, 4, 8))
    cfg.teacher_stem_kernel = 7
    cfg.isolated_hidden = cfg.temporal_width
    if size == "tiny":
        cfg.teacher_blocks = (1, 1, 1, 1)  # keeps CPU test compiles fast

    # Differentiated dropout (section 4.2).
    cfg.dropout_attn = 0.3
    cfg.dropout_act = 0.5
    cfg.dropout_res = 0.4

    return apply_cslr_variant(cfg, variant)


def apply_cslr_variant(cfg: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """Switch one component of a CSLR model config off (in place; returns it)."""
    if variant not in CSLR_VARIANTS:
        raise ValueError(f"configs/models.py: unknown CSLR variant {variant!r}; {CSLR_VARIANTS}")
    cfg.variant = variant
    if variant == "vac_baseline":
        # VAC (Min et al. 2021): one K5-P2-K5-P2 branch, valid padding, 2 x BiLSTM, CTC only.
        cfg.use_feature_compilation = False
        cfg.use_pruning = False
        cfg.conv_kernels = (5,)
        cfg.conv_padding = "valid"
        cfg.conv_channels = cfg.temporal_width
        cfg.conv_project = False
        cfg.use_transformer = False
        cfg.use_decoder = False
        cfg.use_distillation = False
    elif variant == "no_transformer":
        cfg.use_transformer = False
        cfg.use_decoder = False
    elif variant == "single_scale_conv":
        cfg.conv_kernels = (5,)
    elif variant == "no_pruning":
        cfg.use_pruning = False
    elif variant == "no_distillation":  # Algorithm 2 off: no ResNet1D teacher
        cfg.use_distillation = False
    elif variant == "no_feature_compilation":  # Algorithm 1 off
        cfg.use_feature_compilation = False
    return cfg


# Paper Table 8: CSLR in pixel space, end to end on RGB (signx_jax/models/pixel.py).
# Method -> its ``frame_encoder``.
PIXEL_METHODS = {"pixel_cnn": "resnet", "pixel_vit": "vit"}


def apply_frame_encoder(
    cfg: ml_collections.ConfigDict, method: str, image_size: int, size: str = "tiny"
) -> ml_collections.ConfigDict:
    """A stage-3 CSLR model config fed by a per-frame encoder of ``image_size`` frames
    (in place; returns it). ``pixel_cnn``: a ResNet-18-style CNN + the whole SignX
    recogniser; ``pixel_vit``: a small ViT + transformer encoder-decoder with CTC
    (no TemporalConv / BiLSTM, compilation, pruning or distillation)."""
    if method not in PIXEL_METHODS:
        raise ValueError(
            f"configs/models.py: unknown pixel method {method!r}; {list(PIXEL_METHODS)}"
        )
    with cfg.unlocked():  # a locked training config gets the new fields too
        cfg.image_size = int(image_size)
        cfg.frame_encoder = PIXEL_METHODS[method]
        if method == "pixel_cnn":
            if size == "tiny":  # CPU-sized: stride-4 stem, one block and 1/4 of the widths
                cfg.resnet_channels, cfg.resnet_blocks = (16, 32, 64, 128), (1, 1, 1, 1)
                cfg.resnet_stem_kernel, cfg.resnet_stem_stride = 5, 4
            else:  # ResNet-18 (VAC, CorrNet), its max-pool folded into a stride-4 stem
                cfg.resnet_channels, cfg.resnet_blocks = (64, 128, 256, 512), (2, 2, 2, 2)
                cfg.resnet_stem_kernel, cfg.resnet_stem_stride = 7, 4
            return cfg
        cfg.vit_patch = 16
        cfg.vit_width, cfg.vit_layers = (96, 2) if size == "tiny" else (384, 12)  # ViT-S/16
        cfg.use_conv_lstm = False
        cfg.use_feature_compilation = cfg.use_pruning = cfg.use_distillation = False
        return cfg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """``stage,size[,ablation...]``, e.g. ``cslr,base,vac_baseline`` or
    ``pose2gloss,base,no_sapiens`` (default ``cslr,tiny``)."""
    stage, _, rest = (arg or "cslr,tiny").partition(",")
    size, variant, dropped = parse_model_arg(rest or "tiny")
    if stage == "cslr" and not dropped:
        return cslr_config(size, variant or "signx")
    if stage == "pose2gloss" and variant is None:
        return pose2gloss_config(size, dropped)
    if stage == "video2pose" and variant is None and not dropped:
        return video2pose_config(size)
    raise ValueError(
        f"configs/models.py: {arg!r}: unknown stage, or an ablation the stage does not take "
        "(CSLR variants: cslr; no_<stream>: pose2gloss)"
    )
