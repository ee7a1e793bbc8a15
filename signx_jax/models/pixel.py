"""CSLR in pixel space: the paper's Table 8 comparisons (section 5, "Inference
efficiency"), trained end to end on RGB frames, no poses and no latent cache.

rgb [B, T, H, W, 3] -> per-frame encoder -> features [B, T, D] -> stage-3 ``CSLR``
(the same recogniser, losses and decoders as the latent route).

* ``ResNetFrames``: a ResNet-18-style 2-D CNN per frame (VAC, CorrNet and most CSLR
  systems): stem, four stages of BasicBlocks (stride 2 from stage 2), global average
  pool, linear map to D. GroupNorm, not BatchNorm: padded frames are black images
  and would enter the batch statistics.
* ``ViTFrames``: a small ViT per frame (patches, 2-D sin-cos positions, pre-LN
  encoder, mean pool), the "Transformer + visual encoder" baseline when the CSLR
  behind it is transformer-only (``use_conv_lstm=False``).

``cfg.frame_encoder`` ("resnet" | "vit") picks one (``configs/models.py``
``pixel_cslr_config``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from signx_jax.models import layers
from signx_jax.models.cslr import CSLR
from signx_jax.models.video2pose import patchify, rgb_frames
from signx_jax.sharding import constrain, param_axes

FRAME_ENCODERS = ("resnet", "vit")


def _conv(cin: int, cout: int, kernel: int, stride: int, cfg: Any, rngs: nnx.Rngs) -> nnx.Conv:
    return nnx.Conv(
        cin, cout, kernel_size=(kernel, kernel), strides=(stride, stride), padding="SAME",
        use_bias=False, dtype=layers.compute_dtype(cfg), param_dtype=jnp.dtype(cfg.param_dtype),
        kernel_init=param_axes(nnx.initializers.he_normal(),
                               ("conv_kernel", "conv_kernel", "conv_in", "conv_out")),
        rngs=rngs,
    )  # fmt: skip


def _norm(channels: int, cfg: Any, rngs: nnx.Rngs) -> nnx.GroupNorm:
    return nnx.GroupNorm(
        channels, num_groups=min(8, channels), dtype=layers.compute_dtype(cfg),
        param_dtype=jnp.dtype(cfg.param_dtype), rngs=rngs,
    )  # fmt: skip


class BasicBlock2D(nnx.Module):
    """conv3-GN-ReLU-conv3-GN + (1x1-conv) shortcut, ReLU; the first conv may stride."""

    def __init__(self, cin: int, cout: int, stride: int, cfg: Any, *, rngs: nnx.Rngs):
        self.conv1, self.norm1 = _conv(cin, cout, 3, stride, cfg, rngs), _norm(cout, cfg, rngs)
        self.conv2, self.norm2 = _conv(cout, cout, 3, 1, cfg, rngs), _norm(cout, cfg, rngs)
        self.short = self.short_norm = None
        if stride != 1 or cin != cout:
            self.short = nnx.data(_conv(cin, cout, 1, stride, cfg, rngs))
            self.short_norm = nnx.data(_norm(cout, cfg, rngs))

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        if self.short is not None:
            x = self.short_norm(self.short(x))
        return jax.nn.relu(h + x)


class ResNetFrames(nnx.Module):
    """rgb [B, T, H, W, 3] -> [B, T, latent_dim]: a ResNet-18-style CNN on each frame
    (``resnet_blocks`` per stage; ResNet-18 is (2, 2, 2, 2))."""

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        self.dtype = layers.compute_dtype(cfg)
        chans = tuple(cfg.resnet_channels)
        self.stem = _conv(3, chans[0], cfg.resnet_stem_kernel, cfg.resnet_stem_stride, cfg, rngs)
        self.stem_norm = _norm(chans[0], cfg, rngs)
        blocks, cin = [], chans[0]
        for stage, (n, cout) in enumerate(zip(cfg.resnet_blocks, chans, strict=True)):
            for k in range(n):
                stride = 2 if stage > 0 and k == 0 else 1
                blocks.append(BasicBlock2D(cin, cout, stride, cfg, rngs=rngs))
                cin = cout
        self.blocks = nnx.List(blocks)
        self.out = layers.dense(cin, cfg.latent_dim, ("mlp", "embed"), cfg, rngs)

    def __call__(self, rgb: jax.Array, *, deterministic: bool) -> jax.Array:
        del deterministic  # no dropout in the frame encoder
        x = jax.nn.relu(self.stem_norm(self.stem(rgb_frames(rgb, self.dtype))))
        for block in self.blocks:
            x = block(x)
        v = self.out(x.mean(axis=(1, 2)))
        return constrain(v.reshape(*rgb.shape[:2], -1), ("batch", "length", "act_embed"))


class ViTFrames(nnx.Module):
    """rgb [B, T, H, W, 3] -> [B, T, latent_dim]: a small ViT on each frame."""

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        self.dtype, self.patch = layers.compute_dtype(cfg), cfg.vit_patch
        self.grid = cfg.image_size // cfg.vit_patch
        self.width = cfg.vit_width
        self.embed = layers.dense(cfg.vit_patch**2 * 3, cfg.vit_width, ("patch", "embed"), cfg,
                                  rngs)  # fmt: skip
        self.encoder = layers.TransformerEncoder(
            cfg.vit_layers, cfg.vit_width, cfg.heads, 2 * cfg.vit_width, cfg, rngs=rngs
        )
        self.out = layers.dense(cfg.vit_width, cfg.latent_dim, ("mlp", "embed"), cfg, rngs)

    def __call__(self, rgb: jax.Array, *, deterministic: bool) -> jax.Array:
        tokens = self.embed(patchify(rgb_frames(rgb, self.dtype), self.patch))
        pos = layers.sincos_2d_positions(self.grid, self.grid, self.width)
        tokens = tokens + pos.astype(self.dtype)
        tokens = self.encoder(tokens, jnp.ones(tokens.shape[:2], bool), deterministic=deterministic)
        v = self.out(tokens.mean(axis=1))
        return constrain(v.reshape(*rgb.shape[:2], -1), ("batch", "length", "act_embed"))


class PixelCSLR(nnx.Module):
    """A frame encoder + the stage-3 ``CSLR``, one model trained end to end on RGB.

    Same call signature and outputs as ``CSLR`` (its first argument is the video), so
    the CSLR training task, the decoders and the evaluation use it unchanged.
    """

    def __init__(self, cfg: Any, vocab_size: int, *, rngs: nnx.Rngs):
        if cfg.frame_encoder not in FRAME_ENCODERS:
            raise ValueError(f"pixel: frame_encoder {cfg.frame_encoder!r}; one of {FRAME_ENCODERS}")
        encoder = ResNetFrames if cfg.frame_encoder == "resnet" else ViTFrames
        self.frames = encoder(cfg, rngs=rngs)
        self.cslr = CSLR(cfg, vocab_size, rngs=rngs)
        self.enc_width = self.cslr.enc_width

    def __call__(self, rgb, frame_mask, prune_mask=None, tokens_in=None, *, deterministic):
        """rgb [B, T, H, W, 3] uint8, frame_mask [B, T] -> ``CSLR.__call__``'s dict."""
        z = self.frames(rgb, deterministic=deterministic)
        z = z * frame_mask[..., None].astype(z.dtype)
        return self.cslr(z, frame_mask, prune_mask, tokens_in, deterministic=deterministic)

    def output_lengths(self, lengths: jax.Array) -> jax.Array:
        return self.cslr.output_lengths(lengths)

    def init_decode_cache(self, batch: int, max_len: int) -> dict[str, jax.Array]:
        return self.cslr.init_decode_cache(batch, max_len)

    def decode_step(self, enc, enc_mask, tokens, step, cache):
        return self.cslr.decode_step(enc, enc_mask, tokens, step, cache)
