"""Shared building blocks: dense, norms, attention, pre-LN transformer stacks.

Used by all three stages (paper sections 3.2, 3.3 and 4.2).
Every parameter carries logical axis names (see ``signx_jax.sharding``);
params are ``cfg.param_dtype`` (float32), compute runs in ``cfg.dtype``;
softmax, norms statistics and logits are float32.

Dropout follows the paper's three rates (section 4.2): ``cfg.dropout_attn`` on
attention weights, ``cfg.dropout_act`` after activations, ``cfg.dropout_res``
on every residual branch.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from signx_jax.schema import stream_offsets
from signx_jax.sharding import constrain, param_axes

Axes = tuple[str | None, ...]

# Draws of at least this many 32-bit words unroll (the small ones, dropout masks of a
# CPU-sized model, stay loops: unrolled, they cost stage 3 6 s more compile per shape).
UNROLLED_THREEFRY_WORDS = 1 << 14


def _unrolled_threefry_on_cpu() -> None:
    """Lower JAX's threefry PRNG on CPU with its rounds unrolled, as on TPU and GPU.

    JAX lowers it on CPU as a loop of five round groups (smaller programs), which
    XLA:CPU runs as separate passes over every random word: 38 ms for the
    [16, 128, 1959] normal noise of stage 1's train step against 12 ms unrolled, a
    fifth of that step (README "Benchmarks and scaling"). Same algorithm, same
    bits (tests/models/test_layers.py). Left as JAX has it where its private
    lowering function is gone (a jax other than the pinned one).
    """
    try:
        from jax._src.random import threefry2x32 as threefry
        from jax.interpreters import mlir
    except ImportError:
        return
    lowering = getattr(threefry, "_threefry2x32_lowering", None)
    if lowering is None:
        return
    unrolled, rolled = (
        mlir.lower_fun(functools.partial(lowering, use_rolled_loops=r), multiple_results=True)
        for r in (False, True)
    )

    def rule(ctx, *args):
        big = np.prod(ctx.avals_out[0].shape) >= UNROLLED_THREEFRY_WORDS
        return (unrolled if big else rolled)(ctx, *args)

    mlir.register_lowering(threefry.threefry2x32_p, rule, platform="cpu")


_unrolled_threefry_on_cpu()

REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_saveable,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def compute_dtype(cfg: Any) -> jnp.dtype:
    return jnp.dtype(cfg.dtype)


@jax.custom_vjp
def split_streams(poses: jax.Array) -> tuple[jax.Array, ...]:
    """poses [..., 1959] -> one [..., dim] array per stream of ``schema.STREAMS``.

    The same values as slicing, with one concatenation for a gradient. Slicing's
    gradient is a zero pad to full width per piece, and the pads are summed: with
    the poses sliced twice (stage 1's stream encoders, the per-stream MSE), XLA:CPU
    summed ten full-width pads inside every stream's backward fusion, a fifth of
    Video2Pose's train step.
    """
    return tuple(poses[..., start:end] for start, end in stream_offsets().values())


def _split_streams_fwd(poses):
    return split_streams(poses), None


def _split_streams_bwd(_, cotangents):
    return (jnp.concatenate(cotangents, axis=-1),)


split_streams.defvjp(_split_streams_fwd, _split_streams_bwd)


def dense(
    in_features: int,
    out_features: int,
    axes: Axes,
    cfg: Any,
    rngs: nnx.Rngs,
    *,
    use_bias: bool = True,
    kernel_init: Any = None,
) -> nnx.Linear:
    """nnx.Linear whose kernel [in, out] has logical ``axes`` and bias [out] ``axes[1:]``."""
    kernel_init = kernel_init or nnx.initializers.xavier_uniform()
    return nnx.Linear(
        in_features,
        out_features,
        use_bias=use_bias,
        dtype=compute_dtype(cfg),
        param_dtype=jnp.dtype(cfg.param_dtype),
        kernel_init=param_axes(kernel_init, axes),
        bias_init=param_axes(nnx.initializers.zeros_init(), axes[1:]),
        rngs=rngs,
    )


def layer_norm(dim: int, cfg: Any, rngs: nnx.Rngs) -> nnx.LayerNorm:
    return nnx.LayerNorm(
        dim,
        epsilon=1e-5,
        dtype=compute_dtype(cfg),
        param_dtype=jnp.dtype(cfg.param_dtype),
        scale_init=param_axes(nnx.initializers.ones_init(), ("norm",)),
        bias_init=param_axes(nnx.initializers.zeros_init(), ("norm",)),
        rngs=rngs,
    )


def embed(num: int, dim: int, axes: Axes, cfg: Any, rngs: nnx.Rngs) -> nnx.Embed:
    return nnx.Embed(
        num,
        dim,
        dtype=compute_dtype(cfg),
        param_dtype=jnp.dtype(cfg.param_dtype),
        embedding_init=param_axes(nnx.initializers.normal(stddev=dim**-0.5), axes),
        rngs=rngs,
    )


def sinusoidal_positions(positions: jax.Array, dim: int) -> jax.Array:
    """Vaswani sinusoids: positions [...] int -> [..., dim] float32 (no params, any length)."""
    half = dim // 2
    freqs = jnp.exp(-np.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / max(half - 1, 1))
    angles = positions.astype(jnp.float32)[..., None] * freqs
    out = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    return jnp.pad(out, [(0, 0)] * positions.ndim + [(0, dim - 2 * half)])


def sincos_2d_positions(height: int, width: int, dim: int) -> jax.Array:
    """Fixed 2-D sin-cos position embedding of an h x w patch grid -> [h * w, dim]
    (row-major): half the channels encode the row, half the column, as in
    big_vision's ``posemb="sincos2d"`` ("Better plain ViT baselines")."""
    rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
    quarter = dim // 2
    out = jnp.concatenate(
        [sinusoidal_positions(rows.reshape(-1), quarter),
         sinusoidal_positions(cols.reshape(-1), dim - quarter)], axis=-1,
    )  # fmt: skip
    return out


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """x: [B, T, D], mask: [B, T] -> [B, D], mean over valid steps (0 if none)."""
    m = mask.astype(jnp.float32)[..., None]
    return (x.astype(jnp.float32) * m).sum(1) / jnp.maximum(m.sum(1), 1.0)


class MultiHeadAttention(nnx.Module):
    """Multi-head dot-product attention with a boolean mask (True = may attend).

    Rows whose keys are all masked give a zero output (not NaN), which the
    stream fusion relies on when a frame has no present stream.
    """

    def __init__(
        self, width: int, heads: int, cfg: Any, *, kv_features: int | None = None, rngs: nnx.Rngs
    ):
        if width % heads:
            raise ValueError(f"layers.MultiHeadAttention: width {width} % heads {heads} != 0")
        kv_features = kv_features or width
        self.heads, self.head_dim = heads, width // heads
        self.query = dense(width, width, ("embed", "heads"), cfg, rngs)
        self.key = dense(kv_features, width, ("embed", "heads"), cfg, rngs)
        self.value = dense(kv_features, width, ("embed", "heads"), cfg, rngs)
        self.out = dense(width, width, ("heads", "embed"), cfg, rngs)
        self.dropout = nnx.Dropout(cfg.dropout_attn, rngs=rngs)

    def _split(self, x: jax.Array) -> jax.Array:
        x = x.reshape(*x.shape[:-1], self.heads, self.head_dim)
        return constrain(x, ("batch", "length", "act_heads", None))

    def project_kv(self, kv: jax.Array) -> tuple[jax.Array, jax.Array]:
        """kv: [B, S, Dkv] -> k, v: [B, S, H, dh]."""
        return self._split(self.key(kv)), self._split(self.value(kv))

    def attend(
        self,
        x: jax.Array,
        k: jax.Array,
        v: jax.Array,
        mask: jax.Array | None,
        *,
        deterministic: bool,
    ) -> tuple[jax.Array, jax.Array]:
        """x: [B, L, W], k/v: [B, S, H, dh], mask: [B, 1|H, L, S] -> ([B, L, W], w [B, H, L, S])."""
        q = self._split(self.query(x)) * jnp.asarray(self.head_dim**-0.5, x.dtype)
        logits = jnp.einsum("blhd,bshd->bhls", q, k).astype(jnp.float32)
        if mask is not None:
            logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(logits, axis=-1)
        if mask is not None:
            weights = jnp.where(mask, weights, 0.0)
        dropped = self.dropout(weights, deterministic=deterministic)
        out = jnp.einsum("bhls,bshd->blhd", dropped.astype(v.dtype), v)
        out = self.out(out.reshape(*out.shape[:2], -1))
        return out, weights

    def __call__(
        self, x: jax.Array, kv: jax.Array, mask: jax.Array | None, *, deterministic: bool
    ) -> jax.Array:
        k, v = self.project_kv(kv)
        return self.attend(x, k, v, mask, deterministic=deterministic)[0]


class Mlp(nnx.Module):
    """Linear -> activation -> dropout(act) -> Linear."""

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out_features: int,
        cfg: Any,
        *,
        activation: str = "gelu",
        rngs: nnx.Rngs,
        axes_in: Axes = ("embed", "mlp"),
        axes_out: Axes = ("mlp", "embed"),
    ):
        self.fc1 = dense(in_features, hidden, axes_in, cfg, rngs)
        self.fc2 = dense(hidden, out_features, axes_out, cfg, rngs)
        self.activation = getattr(jax.nn, activation)
        self.dropout = nnx.Dropout(cfg.dropout_act, rngs=rngs)

    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        h = self.activation(self.fc1(x))
        h = constrain(h, ("batch", "length", "act_mlp")) if h.ndim == 3 else h
        return self.fc2(self.dropout(h, deterministic=deterministic))


class EncoderLayer(nnx.Module):
    """Pre-LN transformer encoder layer: x + attn(LN x); x + mlp(LN x)."""

    def __init__(self, width: int, heads: int, mlp: int, cfg: Any, *, rngs: nnx.Rngs):
        self.ln_attn = layer_norm(width, cfg, rngs)
        self.attn = MultiHeadAttention(width, heads, cfg, rngs=rngs)
        self.ln_mlp = layer_norm(width, cfg, rngs)
        self.mlp = Mlp(width, mlp, width, cfg, rngs=rngs)
        self.dropout = nnx.Dropout(cfg.dropout_res, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array | None, *, deterministic: bool) -> jax.Array:
        h = self.ln_attn(x)
        x = x + self.dropout(
            self.attn(h, h, mask, deterministic=deterministic), deterministic=deterministic
        )
        h = self.mlp(self.ln_mlp(x), deterministic=deterministic)
        x = x + self.dropout(h, deterministic=deterministic)
        return constrain(x, ("batch", "length", "act_embed"))


def _remat(fn: Any, name: str) -> Any:
    if name not in REMAT_POLICIES:
        raise ValueError(f"layers: unknown remat policy {name!r}; one of {list(REMAT_POLICIES)}")
    return fn if name == "none" else nnx.remat(fn, policy=REMAT_POLICIES[name])


class TransformerEncoder(nnx.Module):
    """Stack of pre-LN encoder layers + final LayerNorm; x: [B, L, W], mask: [B, L]."""

    def __init__(
        self, num_layers: int, width: int, heads: int, mlp: int, cfg: Any, *, rngs: nnx.Rngs
    ):
        self.layers = nnx.List(
            [EncoderLayer(width, heads, mlp, cfg, rngs=rngs) for _ in range(num_layers)]
        )
        self.ln_out = layer_norm(width, cfg, rngs)
        self.remat = cfg.remat

    def __call__(self, x: jax.Array, mask: jax.Array, *, deterministic: bool) -> jax.Array:
        attn_mask = mask[:, None, None, :]  # key padding mask [B, 1, 1, L]
        run = _remat(lambda layer, x, m: layer(x, m, deterministic=deterministic), self.remat)
        for layer in self.layers:
            x = run(layer, x, attn_mask)
        return self.ln_out(x)


class DecoderLayer(nnx.Module):
    """Pre-LN decoder layer: causal self-attention, cross-attention, MLP."""

    def __init__(
        self, width: int, heads: int, mlp: int, kv_features: int, cfg: Any, *, rngs: nnx.Rngs
    ):
        self.ln_self = layer_norm(width, cfg, rngs)
        self.self_attn = MultiHeadAttention(width, heads, cfg, rngs=rngs)
        self.ln_cross = layer_norm(width, cfg, rngs)
        self.cross_attn = MultiHeadAttention(width, heads, cfg, kv_features=kv_features, rngs=rngs)
        self.ln_mlp = layer_norm(width, cfg, rngs)
        self.mlp = Mlp(width, mlp, width, cfg, rngs=rngs)
        self.dropout = nnx.Dropout(cfg.dropout_res, rngs=rngs)

    def _cross_and_mlp(
        self, x: jax.Array, enc: jax.Array, cross_mask: jax.Array, deterministic: bool
    ) -> tuple[jax.Array, jax.Array]:
        k, v = self.cross_attn.project_kv(enc)
        out, weights = self.cross_attn.attend(
            self.ln_cross(x), k, v, cross_mask, deterministic=deterministic
        )
        x = x + self.dropout(out, deterministic=deterministic)
        h = self.mlp(self.ln_mlp(x), deterministic=deterministic)
        return x + self.dropout(h, deterministic=deterministic), weights

    def __call__(
        self,
        x: jax.Array,
        enc: jax.Array,
        self_mask: jax.Array,
        cross_mask: jax.Array,
        *,
        deterministic: bool,
    ) -> tuple[jax.Array, jax.Array]:
        """x: [B, L, W], enc: [B, S, Dkv] -> (x [B, L, W], cross weights [B, H, L, S])."""
        h = self.ln_self(x)
        h = self.self_attn(h, h, self_mask, deterministic=deterministic)
        x = x + self.dropout(h, deterministic=deterministic)
        x, weights = self._cross_and_mlp(x, enc, cross_mask, deterministic)
        return constrain(x, ("batch", "length", "act_embed")), weights

    def step(
        self,
        x: jax.Array,
        enc: jax.Array,
        cross_mask: jax.Array,
        k_cache: jax.Array,
        v_cache: jax.Array,
        step: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """One token: x [N, 1, W]; caches [N, M, H, dh] get position ``step`` written."""
        h = self.ln_self(x)
        k, v = self.self_attn.project_kv(h)
        k_cache = jax.lax.dynamic_update_slice(k_cache, k.astype(k_cache.dtype), (0, step, 0, 0))
        v_cache = jax.lax.dynamic_update_slice(v_cache, v.astype(v_cache.dtype), (0, step, 0, 0))
        causal = (jnp.arange(k_cache.shape[1]) <= step)[None, None, None, :]
        h, _ = self.self_attn.attend(h, k_cache, v_cache, causal, deterministic=True)
        x, weights = self._cross_and_mlp(x + h, enc, cross_mask, True)
        return x, k_cache, v_cache, weights


class TransformerDecoder(nnx.Module):
    """Gloss-token decoder cross-attending to an encoder memory (CodeBook / stage-3 decoder).

    ``__call__`` is the teacher-forced pass; ``init_cache`` + ``decode_step``
    are the fixed-shape incremental pass for compiled beam search and give the
    same logits token by token.
    """

    def __init__(
        self,
        vocab_size: int,
        num_layers: int,
        width: int,
        heads: int,
        mlp: int,
        kv_features: int,
        cfg: Any,
        *,
        rngs: nnx.Rngs,
    ):
        self.width, self.heads, self.num_layers = width, heads, num_layers
        self.dtype = compute_dtype(cfg)
        self.token_embedding = embed(vocab_size, width, ("vocab", "embed"), cfg, rngs)
        self.dropout = nnx.Dropout(cfg.dropout_res, rngs=rngs)
        self.layers = nnx.List(
            [
                DecoderLayer(width, heads, mlp, kv_features, cfg, rngs=rngs)
                for _ in range(num_layers)
            ]
        )
        self.ln_out = layer_norm(width, cfg, rngs)
        self.head = dense(width, vocab_size, ("embed", "vocab"), cfg, rngs)
        self.remat = cfg.remat

    def _embed(self, tokens: jax.Array, positions: jax.Array) -> jax.Array:
        x = self.token_embedding(tokens) * jnp.asarray(self.width**0.5, self.dtype)
        return x + sinusoidal_positions(positions, self.width).astype(self.dtype)

    def _logits(self, x: jax.Array) -> jax.Array:
        return self.head(self.ln_out(x)).astype(jnp.float32)

    def __call__(
        self, tokens: jax.Array, enc: jax.Array, enc_mask: jax.Array, *, deterministic: bool
    ) -> jax.Array:
        """tokens: [B, L] int, enc: [B, S, Dkv], enc_mask: [B, S] -> logits [B, L, V] float32."""
        length = tokens.shape[1]
        x = self._embed(tokens, jnp.arange(length)[None, :])
        x = self.dropout(x, deterministic=deterministic)
        causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
        cross = enc_mask[:, None, None, :]
        run = _remat(
            lambda layer, x, e, c, m: layer(x, e, c, m, deterministic=deterministic)[0],
            self.remat,
        )
        for layer in self.layers:
            x = run(layer, x, enc.astype(self.dtype), causal, cross)
        return constrain(self._logits(x), ("batch", "length", "act_vocab"))

    def init_cache(self, batch: int, max_len: int) -> dict[str, jax.Array]:
        """Zero self-attention KV cache: {"k", "v": [layers, N, max_len, H, dh]}."""
        shape = (self.num_layers, batch, max_len, self.heads, self.width // self.heads)
        return {"k": jnp.zeros(shape, self.dtype), "v": jnp.zeros(shape, self.dtype)}

    def decode_step(
        self,
        enc: jax.Array,
        enc_mask: jax.Array,
        tokens: jax.Array,
        step: jax.Array,
        cache: dict[str, jax.Array],
    ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """tokens [N] at position ``step`` -> (logits [N, V], cross-attn [N, S], cache).

        The cross-attention map is the last layer's, averaged over heads
        (Algorithm 3's attention-entropy penalty reads it).
        """
        step = jnp.asarray(step, jnp.int32)
        x = self._embed(tokens[:, None], jnp.full((1, 1), step))
        cross = enc_mask[:, None, None, :]
        ks, vs, weights = [], [], None
        for i, layer in enumerate(self.layers):
            x, k, v, weights = layer.step(
                x, enc.astype(self.dtype), cross, cache["k"][i], cache["v"][i], step
            )
            ks.append(k)
            vs.append(v)
        cache = {"k": jnp.stack(ks), "v": jnp.stack(vs)}
        return self._logits(x)[:, 0], weights.mean(axis=1)[:, 0], cache
