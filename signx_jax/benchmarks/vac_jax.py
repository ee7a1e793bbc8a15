"""The VAC CSLR training step in plain JAX: the second reference of ``train_step``.

The same stack and shapes as ``vac_torch.py`` (Conv1D K5-P2-K5-P2 with
BatchNorm, 2-layer BiLSTM, linear classifier, CTC, Adam) without Flax, the
Trainer or masking: parameters in a dict, ``lax.conv_general_dilated``, one
``lax.scan`` per LSTM layer with the input projection hoisted out of it,
``optax.ctc_loss``. What the project's ``vac_baseline`` step costs on top of
this is the price of its generality (variable lengths, sharding annotations,
non-finite guards).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax


def init_params(key: jax.Array, dim: int, hidden: int, classes: int) -> dict:
    keys = iter(jax.random.split(key, 16))

    def dense(fan_in: int, shape: tuple[int, ...]) -> jax.Array:
        return jax.random.normal(next(keys), shape, jnp.float32) / np.sqrt(fan_in)

    p = {}
    for i in range(2):
        p[f"conv{i}"] = dense(5 * dim, (5, dim, dim))
        p[f"bn{i}"] = (jnp.ones(dim), jnp.zeros(dim))
    for i in range(2):
        for d in ("fwd", "bwd"):
            p[f"lstm{i}_{d}"] = (
                dense(dim, (dim, 4 * hidden)),
                dense(hidden, (hidden, 4 * hidden)),
                jnp.zeros(4 * hidden),
            )
    p["out"] = (dense(2 * hidden, (2 * hidden, classes)), jnp.zeros(classes))
    return p


def _lstm(x: jax.Array, w_ih: jax.Array, w_hh: jax.Array, b: jax.Array) -> jax.Array:
    """x [T, B, C] -> h [T, B, H]."""
    gates_x = x @ w_ih + b
    zeros = jnp.zeros((x.shape[1], w_hh.shape[0]), x.dtype)

    def step(carry, g_x):
        h, c = carry
        i, f, g, o = jnp.split(g_x + h @ w_hh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    return jax.lax.scan(step, (zeros, zeros), gates_x)[1]


def forward(p: dict, x: jax.Array) -> jax.Array:
    """x [B, T, C] -> logits [B, T', classes]."""
    for i in range(2):
        x = jax.lax.conv_general_dilated(
            x, p[f"conv{i}"], (1,), "VALID", dimension_numbers=("NWC", "WIO", "NWC")
        )
        scale, bias = p[f"bn{i}"]
        mean, var = x.mean((0, 1)), x.var((0, 1))
        x = jax.nn.relu((x - mean) * jax.lax.rsqrt(var + 1e-5) * scale + bias)
        x = x[:, : x.shape[1] // 2 * 2].reshape(x.shape[0], -1, 2, x.shape[2]).max(axis=2)
    h = jnp.swapaxes(x, 0, 1)
    for i in range(2):
        fwd = _lstm(h, *p[f"lstm{i}_fwd"])
        bwd = _lstm(h[::-1], *p[f"lstm{i}_bwd"])[::-1]
        h = jnp.concatenate([fwd, bwd], axis=-1)
    w, b = p["out"]
    return jnp.swapaxes(h @ w + b, 0, 1)


def make_step(
    batch: int = 8, frames: int = 256, dim: int = 1024, hidden: int = 512,
    classes: int = 1296, labels: int = 8,
) -> Callable[[], jax.Array]:  # fmt: skip
    """A zero-argument callable that runs one jitted Adam step (and blocks)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, frames, dim)), jnp.float32)
    y = jnp.asarray(rng.integers(1, classes, (batch, labels)), jnp.int32)
    params = init_params(jax.random.key(0), dim, hidden, classes)
    opt = optax.adam(1e-4)

    def loss_fn(p):
        logits = forward(p, x)
        pad = jnp.zeros(logits.shape[:2])
        return optax.ctc_loss(logits, pad, y, jnp.zeros(y.shape)).mean()

    @jax.jit
    def step(p, s):
        loss, g = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    state = [params, opt.init(params)]

    def run() -> jax.Array:
        state[0], state[1], loss = step(*state)
        return loss.block_until_ready()

    return run
