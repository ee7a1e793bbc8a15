"""Stage 2 - Video2Pose: RGB frames -> the five pose streams (paper section 3.3).

Each frame goes through a spatial ViT (eq. 4: patch embedding, CLS or mean
pooling -> v_t), a temporal transformer mixes frames (eq. 5), and one linear
head per stream predicts P_i-hat (eq. 6); the heads are concatenated in
``schema.STREAMS`` order -> [B, T, 1959]. ``video_to_latent`` chains the frozen
stage 1 encoder: the single call video -> z_latent used at inference;
``Video2PoseModel`` holds both for stage-2 training (paper appendix B.2).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from signx_jax.models import layers
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.schema import POSE_DIM, STREAMS, stream_offsets
from signx_jax.sharding import constrain, param_axes


def rgb_frames(rgb: jax.Array, dtype) -> jax.Array:
    """rgb [B, T, H, W, 3] uint8 (or float in 0..1) -> frames [B * T, H, W, 3] in -1..1."""
    x = rgb.astype(jnp.float32)
    if jnp.issubdtype(rgb.dtype, jnp.integer):
        x = x / 255.0
    return ((x - 0.5) / 0.5).reshape(-1, *rgb.shape[2:]).astype(dtype)


def patchify(frames: jax.Array, patch: int) -> jax.Array:
    """frames [N, H, W, C] -> patches [N, (H/p)*(W/p), p*p*C]."""
    n, h, w, c = frames.shape
    if h % patch or w % patch:
        raise ValueError(f"video2pose: frame {h}x{w} is not divisible by patch size {patch}")
    x = frames.reshape(n, h // patch, patch, w // patch, patch, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, (h // patch) * (w // patch), patch * patch * c)


class PoseStatistic(nnx.Variable):
    """Per-dimension mean or scale of the training poses: set once, never trained."""


class Video2Pose(nnx.Module):
    """rgb [B, T, H, W, 3] -> poses_hat [B, T, 1959] (see module docstring)."""

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        self.patch, self.pool = cfg.patch_size, cfg.pool
        if cfg.pool not in ("cls", "mean", "flatten"):
            raise ValueError(
                f"video2pose: pool must be 'cls', 'mean' or 'flatten', got {cfg.pool!r}"
            )
        self.dtype = layers.compute_dtype(cfg)
        self.width = cfg.width
        # Temporal attention within consecutive windows of this many frames
        # (0 = the whole clip): set it to the training window (data.train_window)
        # so a long clip at inference sees the positions it was trained on.
        self.temporal_window = int(cfg.get("temporal_window", 0))
        num_patches = (cfg.image_size // cfg.patch_size) ** 2
        pdt = jnp.dtype(cfg.param_dtype)
        # Patch embedding: one linear map of each p x p patch (ViT), or a conv
        # stem first (stride-2 3x3 convs, ours: "early convolutions help
        # transformers see better", Xiao et al. 2021) whose feature map is then
        # cut into patches of p / 2**len(stem) cells: the same tokens per frame.
        stem = tuple(cfg.get("stem_channels", ()))
        self.stem_channels = stem
        self.stem_patch = cfg.patch_size // 2 ** len(stem)
        if stem and (self.stem_patch < 1 or cfg.patch_size % 2 ** len(stem)):
            raise ValueError(
                f"video2pose: patch_size {cfg.patch_size} is not divisible by the conv stem's "
                f"stride {2 ** len(stem)}"
            )
        chans = (3, *stem)
        self.stem = nnx.List(
            [
                nnx.Conv(
                    cin, cout, kernel_size=(3, 3), strides=(2, 2), padding="SAME",
                    dtype=self.dtype, param_dtype=pdt,
                    kernel_init=param_axes(
                        nnx.initializers.he_normal(),
                        ("conv_kernel", "conv_kernel", "conv_in", "conv_out"),
                    ),
                    bias_init=param_axes(nnx.initializers.zeros_init(), ("conv_out",)),
                    rngs=rngs,
                )
                for cin, cout in zip(chans[:-1], chans[1:], strict=True)
            ]
        )  # fmt: skip
        self.patch_embed = layers.dense(
            self.stem_patch**2 * chans[-1], cfg.width, ("patch", "embed"), cfg, rngs
        )
        self.cls = nnx.Param(
            param_axes(nnx.initializers.zeros_init(), (None, "embed"))(
                rngs.params(), (1, cfg.width), pdt
            )
        )
        # Patch positions: learned (ViT; init std 0.02) or fixed 2-D sin-cos
        # (big_vision's sincos2d): unit-scale from step 0, so a pooled token
        # can tell *where* a pattern is without first growing the table.
        self.posemb = cfg.get("posemb", "learn")
        if self.posemb not in ("learn", "sincos2d"):
            raise ValueError(f"video2pose: posemb is 'learn' or 'sincos2d', not {self.posemb!r}")
        self.grid = cfg.image_size // cfg.patch_size
        if self.posemb == "learn":
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
        # "flatten" reads the whole token map out with one linear map (ours):
        # where each patch token sits stays explicit, as in a CNN's final
        # dense layer; CLS and mean pooling must learn to route position.
        if cfg.pool == "flatten":
            self.readout = layers.dense(
                num_patches * cfg.width, cfg.width, ("mlp", "embed"), cfg, rngs
            )
        self.heads = nnx.List(
            [layers.dense(cfg.width, dim, ("embed", "pose"), cfg, rngs) for _, dim in STREAMS]
        )
        # The heads predict standardized poses; these map them back (identity
        # until ``set_pose_statistics``). Extracted poses sit at means up to
        # ~0.6 with per-dimension sds of ~0.1: in raw units Adam's ~lr-sized
        # steps need hundreds of steps just to reach the mean pose.
        self.pose_mean = PoseStatistic(jnp.zeros((POSE_DIM,), jnp.float32))
        self.pose_scale = PoseStatistic(jnp.ones((POSE_DIM,), jnp.float32))

    def set_pose_statistics(self, mean, scale) -> None:
        """Per-dimension mean and sd [1959] of the training poses (see __init__)."""
        self.pose_mean[...] = jnp.asarray(mean, jnp.float32).reshape(POSE_DIM)
        self.pose_scale[...] = jnp.asarray(scale, jnp.float32).reshape(POSE_DIM)

    def frame_features(self, rgb: jax.Array, *, deterministic: bool) -> jax.Array:
        """rgb [B, T, H, W, 3] (uint8 0..255 or float 0..1) -> v [B, T, width] (eq. 4)."""
        batch, time = rgb.shape[:2]
        frames = rgb_frames(rgb, self.dtype)
        for conv in self.stem:
            frames = jax.nn.gelu(conv(frames))
        tokens = self.patch_embed(patchify(frames, self.stem_patch))
        n = tokens.shape[0]
        cls = jnp.broadcast_to(self.cls[...].astype(self.dtype), (n, 1, self.width))
        tokens = jnp.concatenate([cls, tokens], axis=1)
        if tokens.shape[1] != self.grid**2 + 1:
            raise ValueError(
                f"video2pose: {tokens.shape[1] - 1} patches per frame, the config's "
                f"image_size implies {self.grid**2}"
            )
        if self.posemb == "learn":
            pos = self.pos_embedding[...]
        else:  # the CLS token has no position
            table = layers.sincos_2d_positions(self.grid, self.grid, self.width)
            pos = jnp.concatenate([jnp.zeros((1, self.width)), table])
        tokens = tokens + pos.astype(self.dtype)
        tokens = self.spatial(tokens, jnp.ones(tokens.shape[:2], bool), deterministic=deterministic)
        if self.pool == "cls":
            v = tokens[:, 0]
        elif self.pool == "mean":
            v = tokens[:, 1:].mean(axis=1)
        else:
            v = self.readout(tokens[:, 1:].reshape(n, -1))
        return constrain(v.reshape(batch, time, -1), ("batch", "length", "act_embed"))

    def __call__(self, rgb: jax.Array, frame_mask: jax.Array, *, deterministic: bool) -> jax.Array:
        """rgb [B, T, H, W, 3], frame_mask [B, T] -> poses_hat [B, T, 1959] float32."""
        frame_mask = frame_mask.astype(bool)
        v = self.frame_features(rgb, deterministic=deterministic)
        batch, time = v.shape[:2]
        window = self.temporal_window or time
        if time > window:  # attend within consecutive windows, as in training
            pad = -time % window
            v = jnp.pad(v, ((0, 0), (0, pad), (0, 0)))
            mask = jnp.pad(frame_mask, ((0, 0), (0, pad)))
            v, mask = v.reshape(-1, window, v.shape[-1]), mask.reshape(-1, window)
        else:
            mask = frame_mask
        pos = layers.sinusoidal_positions(jnp.arange(v.shape[1])[None], self.width)
        v = self.temporal(v + pos.astype(v.dtype), mask, deterministic=deterministic)
        v = v.reshape(batch, -1, v.shape[-1])[:, :time]
        poses = jnp.concatenate([head(v) for head in self.heads], axis=-1).astype(jnp.float32)
        poses = poses * self.pose_scale[...] + self.pose_mean[...]
        return poses * frame_mask[..., None]


class Video2PoseModel(nnx.Module):
    """Video2Pose plus the frozen stage-1 encoder it is trained against."""

    def __init__(self, cfg, vocab_size: int, *, rngs: nnx.Rngs):
        self.video2pose = Video2Pose(cfg.model, rngs=rngs)
        self.pose2gloss = Pose2Gloss(cfg.stage1_model, vocab_size, rngs=rngs)


def colour_jitter(rgb: jax.Array, key: jax.Array, strength: float) -> jax.Array:
    """Per-clip colour augmentation: rgb [B, T, H, W, 3] uint8 -> float32 in [0, 1].

    Each clip gets its own channel permutation, per-channel gain in
    1 +- strength and offset in +- strength / 2 (the same for all its frames).
    """
    b = rgb.shape[0]
    k_perm, k_gain, k_off = jax.random.split(key, 3)
    perm = jax.vmap(lambda k: jax.random.permutation(k, 3))(jax.random.split(k_perm, b))
    gain = jax.random.uniform(k_gain, (b, 1, 1, 1, 3), minval=1 - strength, maxval=1 + strength)
    offset = jax.random.uniform(k_off, (b, 1, 1, 1, 3), minval=-strength / 2, maxval=strength / 2)
    x = rgb.astype(jnp.float32) / 255.0
    x = jnp.take_along_axis(x, perm[:, None, None, None, :], axis=-1)
    return jnp.clip(x * gain + offset, 0.0, 1.0)


def zero_stream(poses: jax.Array, stream: str | None) -> jax.Array:
    """``poses`` [..., 1959] with ``stream``'s columns set to 0 (paper Table 9); None:
    unchanged."""
    if stream is None:
        return poses
    start, end = stream_offsets()[stream]
    return poses.at[..., start:end].set(0.0)


def video_to_latent(
    video2pose: Video2Pose,
    pose2gloss: Pose2Gloss,
    rgb: jax.Array,
    frame_mask: jax.Array,
    zeroed: str | None = None,
) -> jax.Array:
    """Inference path video -> P-hat -> frozen fusion encoder -> z_latent [B, T, Dz].

    All streams are predicted, so presence is all True; ``zeroed`` names a stream whose
    predicted values are set to 0 (paper Table 9's corruption).
    """
    poses = zero_stream(video2pose(rgb, frame_mask, deterministic=True), zeroed)
    presence = jnp.ones((*poses.shape[:2], len(STREAMS)), bool)
    return pose2gloss.encode(poses, presence, frame_mask, deterministic=True)
