"""Stage 2 - Video2Pose: RGB frames -> the five pose streams (paper 3.3, SPEC 4).

Each frame goes through a spatial ViT (eq. 4: patch embedding, CLS or mean
pooling -> v_t), a temporal transformer mixes frames (eq. 5), and one linear
head per stream predicts P_i-hat (eq. 6); the heads are concatenated in
``schema.STREAMS`` order -> [B, T, 1959]. ``video_to_latent`` chains the frozen
stage 1 encoder: the single call video -> z_latent used at inference.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from signx_jax.models import layers
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.schema import STREAMS
from signx_jax.sharding import constrain, param_axes


def patchify(frames: jax.Array, patch: int) -> jax.Array:
    """frames [N, H, W, C] -> patches [N, (H/p)*(W/p), p*p*C]."""
    n, h, w, c = frames.shape
    if h % patch or w % patch:
        raise ValueError(f"video2pose: frame {h}x{w} is not divisible by patch size {patch}")
    x = frames.reshape(n, h // patch, patch, w // patch, patch, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, (h // patch) * (w // patch), patch * patch * c)


class Video2Pose(nnx.Module):
    """rgb [B, T, H, W, 3] -> poses_hat [B, T, 1959] (see module docstring)."""

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        self.patch, self.pool = cfg.patch_size, cfg.pool
        if cfg.pool not in ("cls", "mean"):
            raise ValueError(f"video2pose: pool must be 'cls' or 'mean', got {cfg.pool!r}")
        self.dtype = layers.compute_dtype(cfg)
        self.width = cfg.width
        num_patches = (cfg.image_size // cfg.patch_size) ** 2
        pdt = jnp.dtype(cfg.param_dtype)
        self.patch_embed = layers.dense(
            cfg.patch_size**2 * 3, cfg.width, ("patch", "embed"), cfg, rngs
        )
        self.cls = nnx.Param(
            param_axes(nnx.initializers.zeros_init(), (None, "embed"))(
                rngs.params(), (1, cfg.width), pdt
            )
        )
        self.pos_embedding = nnx.Param(
            param_axes(nnx.initializers.normal(0.02), ("position", "embed"))(
                rngs.params(), (num_patches + 1, cfg.width), pdt
            )
        )
        self.spatial = layers.TransformerEncoder(
            cfg.spatial_layers, cfg.width, cfg.heads, cfg.mlp, cfg, rngs=rngs
        )
        self.temporal = layers.TransformerEncoder(
            cfg.temporal_layers, cfg.width, cfg.heads, cfg.mlp, cfg, rngs=rngs
        )
        self.heads = nnx.List(
            [layers.dense(cfg.width, dim, ("embed", "pose"), cfg, rngs) for _, dim in STREAMS]
        )

    def frame_features(self, rgb: jax.Array, *, deterministic: bool) -> jax.Array:
        """rgb [B, T, H, W, 3] (uint8 0..255 or float 0..1) -> v [B, T, width] (eq. 4)."""
        batch, time = rgb.shape[:2]
        x = rgb.astype(jnp.float32)
        if jnp.issubdtype(rgb.dtype, jnp.integer):
            x = x / 255.0
        x = (x - 0.5) / 0.5
        frames = x.reshape(batch * time, *rgb.shape[2:])
        tokens = self.patch_embed(patchify(frames, self.patch).astype(self.dtype))
        n = tokens.shape[0]
        cls = jnp.broadcast_to(self.cls[...].astype(self.dtype), (n, 1, self.width))
        tokens = jnp.concatenate([cls, tokens], axis=1)
        if tokens.shape[1] != self.pos_embedding.shape[0]:
            raise ValueError(
                f"video2pose: {tokens.shape[1] - 1} patches per frame, the config's "
                f"image_size implies {self.pos_embedding.shape[0] - 1}"
            )
        tokens = tokens + self.pos_embedding[...].astype(self.dtype)
        tokens = self.spatial(tokens, jnp.ones(tokens.shape[:2], bool), deterministic=deterministic)
        v = tokens[:, 0] if self.pool == "cls" else tokens[:, 1:].mean(axis=1)
        return constrain(v.reshape(batch, time, -1), ("batch", "length", "act_embed"))

    def __call__(self, rgb: jax.Array, frame_mask: jax.Array, *, deterministic: bool) -> jax.Array:
        """rgb [B, T, H, W, 3], frame_mask [B, T] -> poses_hat [B, T, 1959] float32."""
        frame_mask = frame_mask.astype(bool)
        v = self.frame_features(rgb, deterministic=deterministic)
        pos = layers.sinusoidal_positions(jnp.arange(v.shape[1])[None], self.width)
        v = self.temporal(v + pos.astype(v.dtype), frame_mask, deterministic=deterministic)
        poses = jnp.concatenate([head(v) for head in self.heads], axis=-1).astype(jnp.float32)
        return poses * frame_mask[..., None]


def video_to_latent(
    video2pose: Video2Pose, pose2gloss: Pose2Gloss, rgb: jax.Array, frame_mask: jax.Array
) -> jax.Array:
    """Inference path video -> P-hat -> frozen fusion encoder -> z_latent [B, T, Dz].

    All streams are predicted, so presence is all True.
    """
    poses = video2pose(rgb, frame_mask, deterministic=True)
    presence = jnp.ones((*poses.shape[:2], len(STREAMS)), bool)
    return pose2gloss.encode(poses, presence, frame_mask, deterministic=True)
