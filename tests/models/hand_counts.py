"""Parameter counts of the ``base`` models worked out by hand from their dims.

Paper sections 3.2 and 4.1-4.2 fix most of stages 1 and 3 (latent 2048, temporal 1024,
BiLSTM 2 x 512, width 256, 6 + 6 layers, ResNet-34 teacher; FFN 4096 and 4 heads come
from sltunet, README "Design"); stage 2's dims, which the paper leaves open, are
configs/models.py's ViT-S/16 (224 px, patch 16, width 384, 12 + 4 layers, FFN 1536).
Each function returns ``{part: count}`` keyed like the rows of
``signx_jax.models.summary`` plus ``"total"``.
"""

from __future__ import annotations

from signx_jax.schema import POSE_DIM, STREAMS


def encoder_layer(w: int, f: int) -> int:
    """Pre-LN encoder layer: q, k, v, out projections, two LayerNorms, the FFN."""
    return 4 * (w * w + w) + 2 * 2 * w + (w * f + f) + (f * w + w)


def decoder_layer(w: int, f: int, kv: int) -> int:
    """Decoder layer: self-attention, cross-attention (k, v from kv-wide memory), 3 LNs, FFN."""
    attn = 4 * (w * w + w)
    cross = 2 * (w * w + w) + 2 * (kv * w + w)
    return attn + cross + 3 * 2 * w + (w * f + f) + (f * w + w)


def decoder(vocab: int, layers: int, w: int, f: int, kv: int) -> int:
    """Token embedding, layers, final LayerNorm, output head."""
    return vocab * w + layers * decoder_layer(w, f, kv) + 2 * w + (w * vocab + vocab)


def _with_total(parts: dict[str, int]) -> dict[str, int]:
    return {**parts, "total": sum(parts.values())}


def pose2gloss_base(vocab: int) -> dict[str, int]:
    """d_h 512, 8 fusion heads, PadMatch 5 x 512 -> 2048, 6 ViT layers (FFN 4096), CodeBook
    decoder 3 x 512 (FFN 2048) over the 2048-d latent, contrastive projections to 512."""
    d_h, dz, f, w = 512, 2048, 4096, 512
    encoders = sum(dim * d_h + d_h + d_h * d_h + d_h + 2 * d_h for _, dim in STREAMS)
    fusion = encoders + 5 * d_h + 2 * d_h + 4 * (d_h * d_h + d_h) + (5 * d_h * dz + dz)
    return _with_total(
        {
            "fusion": fusion,
            "vit": 6 * encoder_layer(dz, f) + 2 * dz,
            "decoder": decoder(vocab, 3, w, 2048, dz),
            "contrastive": (dz * w + w) + (w * w + w),
        }
    )


def video2pose_base() -> dict[str, int]:
    """ViT-S/16 per frame (CLS token, fixed sin-cos positions), 4 temporal layers, 5 heads."""
    w, f, patch = 384, 1536, 16
    spatial = (patch * patch * 3 * w + w) + w + 12 * encoder_layer(w, f) + 2 * w
    return _with_total(
        {
            "spatial": spatial,
            "temporal": 4 * encoder_layer(w, f) + 2 * w,
            "heads": w * POSE_DIM + POSE_DIM,
        }
    )


def cslr_base(vocab: int) -> dict[str, int]:
    """Latent 2048, 3 x 512 conv branches (k 3, 5, 7; two levels) -> 1024, BiLSTM 2 x 512
    per direction, width 256, 6 + 6 layers, FFN 4096, student 1024, ResNet-34 teacher."""
    d, c, tw, h, w, f = 2048, 512, 1024, 512, 256, 4096
    teacher, in_ch = 7 * d * 64 + 2 * 64, 64
    for n, ch in zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True):
        for _ in range(n):
            teacher += 3 * in_ch * ch + 3 * ch * ch + 4 * ch
            teacher += (in_ch * ch + 2 * ch) if in_ch != ch else 0
            in_ch = ch
    return _with_total(
        {
            "compiler": 2 * d,
            "student": (d * 1024 + 1024) + (1024 * vocab + vocab),
            "teacher": teacher + 512 * vocab + vocab,
            "conv": sum(k * d * c + 2 * c + k * c * c + 2 * c for k in (3, 5, 7)) + 3 * c * tw + tw,
            "lstm": 2 * (tw * 4 * h + 4 * h + h * 4 * h) + 2 * (2 * h * 4 * h + 4 * h + h * 4 * h),
            "encoder": (2 * h * w + w) + 6 * encoder_layer(w, f) + 2 * w,
            "ctc": w * vocab + vocab,
            "decoder": decoder(vocab, 6, w, f, w),
        }
    )
