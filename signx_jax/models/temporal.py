"""Stage-3 temporal blocks: multi-scale TemporalConv, BiLSTM, 1-D ResNet-34 teacher.

Paper section 4.2 and Appendix C (eq. 15). All blocks take a
frame mask and keep padded frames out of every statistic (BatchNorm batch
statistics are masked means over the *global* batch under GSPMD), so the
valid outputs of a clip do not depend on how much padding follows it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from signx_jax.models import layers
from signx_jax.sharding import constrain, param_axes


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """The conv settings that fix the length arithmetic (hashable, static)."""

    conv_padding: str
    conv_kernels: tuple[int, ...]
    conv_levels: int
    pool_size: int

    @classmethod
    def from_config(cls, cfg: Any) -> ConvSpec:
        return cls(cfg.conv_padding, tuple(cfg.conv_kernels), cfg.conv_levels, cfg.pool_size)


def conv_output_lengths(cfg: Any, lengths: jax.Array | np.ndarray) -> jax.Array:
    """Valid frames after the TemporalConv stack: lengths [B] -> [B] int32 (pure in cfg).

    "same": each level maps L -> L // pool; "valid" (one kernel k): L -> (L - k + 1) // pool.
    """
    out = jnp.asarray(lengths, jnp.int32)
    shrink = 0 if cfg.conv_padding == "same" else max(cfg.conv_kernels) - 1
    for _ in range(cfg.conv_levels):
        out = jnp.maximum(out - shrink, 0) // cfg.pool_size
    return out


def conv_output_frames(cfg: Any, num_frames: int) -> int:
    """Static T' of the conv output for a padded length T (shapes, not lengths)."""
    shrink = 0 if cfg.conv_padding == "same" else max(cfg.conv_kernels) - 1
    for _ in range(cfg.conv_levels):
        num_frames = max(num_frames - shrink, 0) // cfg.pool_size
    return num_frames


def length_mask(lengths: jax.Array, num_frames: int) -> jax.Array:
    """lengths [B] -> bool [B, num_frames]."""
    return jnp.arange(num_frames)[None, :] < lengths[:, None]


def conv1d(
    in_ch: int, out_ch: int, kernel: int, padding: str, cfg: Any, rngs: nnx.Rngs
) -> nnx.Conv:
    # No bias: a BatchNorm follows every convolution.
    return nnx.Conv(
        in_ch,
        out_ch,
        kernel_size=(kernel,),
        padding=padding.upper(),
        use_bias=False,
        dtype=layers.compute_dtype(cfg),
        param_dtype=jnp.dtype(cfg.param_dtype),
        kernel_init=param_axes(
            nnx.initializers.he_normal(), ("conv_kernel", "conv_in", "conv_out")
        ),
        rngs=rngs,
    )


def batch_norm(channels: int, cfg: Any, rngs: nnx.Rngs) -> nnx.BatchNorm:
    return nnx.BatchNorm(
        channels,
        momentum=cfg.bn_momentum,
        epsilon=1e-5,
        dtype=layers.compute_dtype(cfg),
        param_dtype=jnp.dtype(cfg.param_dtype),
        scale_init=param_axes(nnx.initializers.ones_init(), ("conv_out",)),
        bias_init=param_axes(nnx.initializers.zeros_init(), ("conv_out",)),
        rngs=rngs,
    )


def _bn(bn: nnx.BatchNorm, x: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
    full = jnp.broadcast_to(mask[..., None], x.shape)
    return bn(x, use_running_average=deterministic, mask=full)


def _zero_pad(x: jax.Array, mask: jax.Array) -> jax.Array:
    return x * mask[..., None].astype(x.dtype)


class ConvBlock(nnx.Module):
    """Conv1D_k -> BN -> ReLU -> MaxPool(stride pool) (eq. 15), mask-aware."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, cfg: Any, *, rngs: nnx.Rngs):
        self.conv = conv1d(in_ch, out_ch, kernel, cfg.conv_padding, cfg, rngs)
        self.bn = batch_norm(out_ch, cfg, rngs)
        self.pool, self.shrink = cfg.pool_size, 0 if cfg.conv_padding == "same" else kernel - 1

    def __call__(
        self, x: jax.Array, lengths: jax.Array, *, deterministic: bool
    ) -> tuple[jax.Array, jax.Array]:
        """x [B, T, C_in], lengths [B] -> ([B, T', C_out], lengths')."""
        # Zeros beyond the length make "same" padding see exactly a clip of that length.
        x = self.conv(_zero_pad(x, length_mask(lengths, x.shape[1])))
        lengths = jnp.maximum(lengths - self.shrink, 0)
        x = jax.nn.relu(_bn(self.bn, x, length_mask(lengths, x.shape[1]), deterministic))
        t_out = x.shape[1] // self.pool
        x = x[:, : t_out * self.pool].reshape(x.shape[0], t_out, self.pool, -1).max(axis=2)
        return x, lengths // self.pool


class MultiScaleTemporalConv(nnx.Module):
    """Parallel branches (k in cfg.conv_kernels), each ``conv_levels`` ConvBlocks; concat, project.

    z [B, T, D] -> h [B, T', temporal_width], T' = conv_output_frames(T).
    """

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        if cfg.conv_padding == "valid" and len(cfg.conv_kernels) > 1:
            raise ValueError("temporal.py: valid padding misaligns branches; use one kernel")
        ch = cfg.conv_channels
        self.branches = nnx.List(
            [
                nnx.List(
                    [
                        ConvBlock(cfg.latent_dim if lvl == 0 else ch, ch, k, cfg, rngs=rngs)
                        for lvl in range(cfg.conv_levels)
                    ]
                )
                for k in cfg.conv_kernels
            ]
        )
        width = ch * len(cfg.conv_kernels)
        if cfg.conv_project:
            self.project = layers.dense(width, cfg.temporal_width, ("mlp", "embed"), cfg, rngs)
        elif width != cfg.temporal_width:
            raise ValueError(
                f"temporal.py: without conv_project the concat width {width} must equal "
                f"temporal_width {cfg.temporal_width}"
            )
        else:
            self.project = None

    def __call__(
        self, z: jax.Array, lengths: jax.Array, *, deterministic: bool
    ) -> tuple[jax.Array, jax.Array]:
        outs = []
        for branch in self.branches:
            h, n = z, lengths
            for block in branch:
                h, n = block(h, n, deterministic=deterministic)
            outs.append(h)
        h = jnp.concatenate(outs, axis=-1)
        if self.project is not None:
            h = self.project(h)
        return constrain(h, ("batch", "length", "act_embed")), n


class LSTM(nnx.Module):
    """The weights of one LSTM direction (PyTorch's gate order i, f, g, o)."""

    def __init__(self, in_features: int, hidden: int, cfg: Any, *, rngs: nnx.Rngs):
        self.hidden = hidden
        self.w_ih = layers.dense(in_features, 4 * hidden, ("embed", "mlp"), cfg, rngs)
        self.w_hh = layers.dense(hidden, 4 * hidden, (None, "mlp"), cfg, rngs, use_bias=False)


def _gates(g: jax.Array) -> tuple[jax.Array, ...]:
    """Pre-activations [..., 4H] -> sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)."""
    i, f, c, o = jnp.split(g, 4, axis=-1)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(c), jax.nn.sigmoid(o)


def _recur(h: jax.Array, w_hh: tuple[jax.Array, jax.Array], transpose: bool = False):
    """h [2, B, n] times each direction's w_hh [H, 4H] (or its transpose) -> [2, B, m].

    Two dots, not one batched dot: XLA:CPU runs independent dots on separate
    threads, a batched one on one thread. The weights come as two arrays (a
    slice of a stacked [2, H, 4H] would be copied in every step of the scan)
    and the transpose is a contraction over the weights' second axis, not a
    materialized array."""
    dims = (((1,), (1 if transpose else 0,)), ((), ()))
    dt = w_hh[0].dtype
    return jnp.stack(
        [
            jax.lax.dot_general(h[d].astype(dt), w_hh[d], dims, preferred_element_type=jnp.float32)
            for d in (0, 1)
        ]
    )


def _bilstm_forward(gates_x, w_hh, mask):
    """gates_x [T, 2, B, 4H], w_hh 2 x [H, 4H], mask [T, 2, B, 1] -> h [T, 2, B, H]
    and what the backward pass needs (pre-activations and cells)."""
    zeros = jnp.zeros(gates_x.shape[1:-1] + (w_hh[0].shape[0],), jnp.float32)

    def step(carry, inputs):
        h, c = carry
        g_x, m = inputs
        g = g_x.astype(jnp.float32) + _recur(h, w_hh)
        i, f, cand, o = _gates(g)
        c = (f * c + i * cand) * m
        h = o * jnp.tanh(c)
        return (h, c), (h, c, g)

    _, (hs, cs, gs) = jax.lax.scan(step, (zeros, zeros), (gates_x, mask))
    return hs, cs, gs


@jax.custom_vjp
def bilstm_scan(
    gates_x: jax.Array, w_hh: tuple[jax.Array, jax.Array], mask: jax.Array
) -> jax.Array:
    """Both directions of one BiLSTM layer in one scan over time.

    gates_x [T, 2, B, 4H] is x @ W_ih + b per direction, direction 1 already
    reversed in time; w_hh a pair of [H, 4H]; mask [T, 2, B, 1] is 0.0 on padding. A
    masked step resets the state to zero, so after the time reversal the front
    padding of direction 1 leaves its state at zero, as if each sequence were
    reversed within its own length. Returns h [T, 2, B, H] float32 (0 on padding).

    The hand-written backward pass carries only (dh, dc) through its reverse
    scan and computes dW_hh for all steps as one matmul afterwards; autodiff
    of the scan would accumulate dW_hh with an outer product inside the loop,
    one extra small matmul per step (the recurrence is latency-bound on CPU).
    """
    return _bilstm_forward(gates_x, w_hh, mask)[0]


def _bilstm_scan_fwd(gates_x, w_hh, mask):
    hs, cs, gs = _bilstm_forward(gates_x, w_hh, mask)
    return hs, (hs, cs, gs, w_hh, mask, jnp.zeros((), gates_x.dtype))


def _bilstm_scan_bwd(res, d_hs):
    hs, cs, gs, w_hh, mask, gx_like = res
    c_prev = jnp.concatenate([jnp.zeros_like(cs[:1]), cs[:-1]])

    def step(carry, inputs):
        dh_next, dc_next = carry
        dh_out, g, c, cp, m = inputs
        i, f, cand, o = _gates(g)
        tc = jnp.tanh(c)
        dh = dh_out + dh_next
        dc = (dc_next + dh * o * (1 - tc * tc)) * m
        d_gate = jnp.concatenate(
            [dc * cand * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - cand * cand),
             dh * tc * o * (1 - o)],
            axis=-1,
        )  # fmt: skip
        return (_recur(d_gate, w_hh, transpose=True), dc * f), d_gate

    zeros = jnp.zeros_like(hs[0])
    _, d_gates = jax.lax.scan(step, (zeros, zeros), (d_hs, gs, cs, c_prev, mask), reverse=True)
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]])
    d_w = tuple(
        jnp.einsum("tbh,tbg->hg", h_prev[:, d], d_gates[:, d]).astype(w.dtype)
        for d, w in enumerate(w_hh)
    )
    return d_gates.astype(gx_like.dtype), d_w, jnp.zeros_like(mask)


bilstm_scan.defvjp(_bilstm_scan_fwd, _bilstm_scan_bwd)


class BiLSTM(nnx.Module):
    """``cfg.lstm_layers`` bidirectional layers, ``cfg.lstm_hidden`` per direction."""

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        h = cfg.lstm_hidden
        self.fwd = nnx.List(
            [LSTM(cfg.temporal_width if i == 0 else 2 * h, h, cfg, rngs=rngs)
             for i in range(cfg.lstm_layers)]
        )  # fmt: skip
        self.bwd = nnx.List(
            [LSTM(cfg.temporal_width if i == 0 else 2 * h, h, cfg, rngs=rngs)
             for i in range(cfg.lstm_layers)]
        )  # fmt: skip

    def __call__(self, x: jax.Array, lengths: jax.Array) -> jax.Array:
        """x [B, T', C], lengths [B] -> u [B, T', 2H], zero beyond each length."""
        mask = length_mask(lengths, x.shape[1])
        # [T, 2, B, 1]: direction 1 runs on the time-reversed sequence.
        m = jnp.stack([mask.T, mask.T[::-1]], axis=1)[..., None].astype(jnp.float32)
        for fwd, bwd in zip(self.fwd, self.bwd, strict=True):
            x = jnp.swapaxes(_zero_pad(x, mask), 0, 1)  # [T, B, C]
            gates_x = jnp.stack([fwd.w_ih(x), bwd.w_ih(x)[::-1]], axis=1)
            w_hh = tuple(d.w_hh.kernel[...].astype(gates_x.dtype) for d in (fwd, bwd))
            h = bilstm_scan(gates_x, w_hh, m)
            x = jnp.concatenate([h[:, 0], h[::-1, 1]], axis=-1).astype(gates_x.dtype)
            x = jnp.swapaxes(x, 0, 1)
        return constrain(_zero_pad(x, mask), ("batch", "length", "act_embed"))


class BasicBlock1D(nnx.Module):
    """ResNet BasicBlock over time: conv3-BN-ReLU-conv3-BN + shortcut, ReLU (stride 1)."""

    def __init__(self, in_ch: int, out_ch: int, cfg: Any, *, rngs: nnx.Rngs):
        self.conv1 = conv1d(in_ch, out_ch, 3, "same", cfg, rngs)
        self.bn1 = batch_norm(out_ch, cfg, rngs)
        self.conv2 = conv1d(out_ch, out_ch, 3, "same", cfg, rngs)
        self.bn2 = batch_norm(out_ch, cfg, rngs)
        if in_ch != out_ch:
            self.short_conv = conv1d(in_ch, out_ch, 1, "same", cfg, rngs)
            self.short_bn = batch_norm(out_ch, cfg, rngs)
        else:
            self.short_conv = self.short_bn = None

    def __call__(self, x: jax.Array, mask: jax.Array, *, deterministic: bool) -> jax.Array:
        h = jax.nn.relu(_bn(self.bn1, self.conv1(x), mask, deterministic))
        h = _bn(self.bn2, self.conv2(_zero_pad(h, mask)), mask, deterministic)
        if self.short_conv is not None:
            x = _bn(self.short_bn, self.short_conv(x), mask, deterministic)
        return _zero_pad(jax.nn.relu(h + x), mask)


class ResNet1D(nnx.Module):
    """Distillation teacher: 1-D ResNet-34 over the latent sequence at frame rate.

    z [B, T, D] -> logits [B, T, V] (no downsampling, so it aligns with the student).
    """

    def __init__(self, cfg: Any, vocab_size: int, *, rngs: nnx.Rngs):
        chans = cfg.teacher_channels
        self.stem = conv1d(cfg.latent_dim, chans[0], cfg.teacher_stem_kernel, "same", cfg, rngs)
        self.stem_bn = batch_norm(chans[0], cfg, rngs)
        blocks, in_ch = [], chans[0]
        for n, ch in zip(cfg.teacher_blocks, chans, strict=True):
            for _ in range(n):
                blocks.append(BasicBlock1D(in_ch, ch, cfg, rngs=rngs))
                in_ch = ch
        self.blocks = nnx.List(blocks)
        self.head = layers.dense(in_ch, vocab_size, ("embed", "vocab"), cfg, rngs)

    def __call__(self, z: jax.Array, mask: jax.Array, *, deterministic: bool) -> jax.Array:
        x = self.stem(_zero_pad(z, mask))
        x = _zero_pad(jax.nn.relu(_bn(self.stem_bn, x, mask, deterministic)), mask)
        for block in self.blocks:
            x = block(x, mask, deterministic=deterministic)
        return self.head(x).astype(jnp.float32)
