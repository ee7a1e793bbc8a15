"""Shared layers' helpers: the stream split and the CPU threefry lowering are what they
replace, in value and gradient, and the fast paths are the ones XLA runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

from signx_jax.models import layers
from signx_jax.schema import POSE_DIM, stream_offsets


def test_split_streams_is_slicing_in_value_and_gradient():
    x = jax.random.normal(jax.random.key(0), (2, 3, POSE_DIM))
    weights = [jax.random.normal(jax.random.key(i), (e - s,)) for i, (s, e) in
               enumerate(stream_offsets().values(), 1)]  # fmt: skip

    def loss(x, split):
        # Stream 1 unused (a disabled stream): its gradient must be zero, not missing.
        pairs = list(enumerate(zip(split(x), weights, strict=True)))
        return sum(jnp.sum(jnp.sin(p) * w) for i, (p, w) in pairs if i != 1)

    def sliced(x):
        return tuple(x[..., s:e] for s, e in stream_offsets().values())

    for ours, theirs in zip(layers.split_streams(x), sliced(x), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    g_ours = jax.jit(jax.grad(lambda x: loss(x, layers.split_streams)))(x)
    g_theirs = jax.jit(jax.grad(lambda x: loss(x, sliced)))(x)
    np.testing.assert_array_equal(g_ours, g_theirs)
    start, end = list(stream_offsets().values())[1]
    assert not np.asarray(g_ours[..., start:end]).any() and np.asarray(g_ours[..., :start]).all()


def test_threefry_on_cpu_gives_the_published_bits_unrolled_for_big_draws():
    """Random123's known answer for threefry2x32 (20 rounds): key (0x13198a2e,
    0x03707344), counter (0x243f6a88, 0x85a308d3) -> (0xc4923a9c, 0x483df7a0), for a
    draw below the unrolling threshold (a loop) and above it (unrolled)."""
    key = (jnp.uint32(0x13198A2E), jnp.uint32(0x03707344))
    draw = jax.jit(threefry_2x32)
    for n in (4, layers.UNROLLED_THREEFRY_WORDS):
        count = jnp.concatenate([jnp.full(n, 0x243F6A88, jnp.uint32),
                                 jnp.full(n, 0x85A308D3, jnp.uint32)])  # fmt: skip
        out = np.asarray(draw(key, count))
        assert (out[:n] == 0xC4923A9C).all() and (out[n:] == 0x483DF7A0).all(), n
        hlo = draw.lower(key, count).compile().as_text()
        assert ("while" in hlo) == (n < layers.UNROLLED_THREEFRY_WORDS), n
