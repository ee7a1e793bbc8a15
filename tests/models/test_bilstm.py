"""The BiLSTM's fused two-direction scan and its hand-written backward pass
against a textbook LSTM: one sequence at a time, cut to its length, reversed
with numpy for the backward direction, differentiated by autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from configs.models import cslr_config
from signx_jax.models import temporal


def _reference_lstm(x, w_ih, b_ih, w_hh):
    """x [T, C] -> h [T, H]: the LSTM equations step by step (gate order i, f, g, o)."""
    h = c = jnp.zeros(w_hh.shape[0])
    out = []
    for t in range(x.shape[0]):
        i, f, g, o = jnp.split(x[t] @ w_ih + b_ih + h @ w_hh, 4)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        out.append(h)
    return jnp.stack(out)


def _reference_bilstm(params, x, lengths):
    """x [B, T, C] -> [B, T, 2H], each sequence on its own, zero beyond its length."""
    outs = []
    for b, n in enumerate(lengths):
        h = x[b, :n]
        for fwd, bwd in params:
            h = jnp.concatenate(
                [_reference_lstm(h, *fwd), _reference_lstm(h[::-1], *bwd)[::-1]], -1
            )
        outs.append(jnp.pad(h, ((0, x.shape[1] - n), (0, 0))))
    return jnp.stack(outs)


def _params(model, layers: int):
    """[(fwd, bwd)] per layer of (w_ih, b_ih, w_hh), from the model or its gradient State."""

    def one(lstm):
        return (lstm.w_ih.kernel[...], lstm.w_ih.bias[...], lstm.w_hh.kernel[...])

    return [(one(model.fwd[i]), one(model.bwd[i])) for i in range(layers)]


def test_bilstm_matches_a_per_sequence_reference_in_value_and_gradient():
    cfg = cslr_config("tiny")
    cfg.lstm_hidden = 8
    model = temporal.BiLSTM(cfg, rngs=nnx.Rngs(0))
    lengths = [9, 5, 1]
    x = jax.random.normal(jax.random.key(1), (3, 9, cfg.temporal_width))
    weights = jax.random.normal(jax.random.key(2), (3, 9, 16))  # a loss that weighs every output

    def loss_model(model, x):
        return jnp.sum(model(x, jnp.asarray(lengths)) * weights)

    def loss_reference(params, x):
        return jnp.sum(_reference_bilstm(params, x, lengths) * weights)

    params = _params(model, cfg.lstm_layers)
    y = model(x, jnp.asarray(lengths))
    y_ref = _reference_bilstm(params, x, lengths)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    assert float(jnp.abs(y[1, 5:]).max()) == 0.0  # padding stays zero

    g_model, g_x = nnx.grad(loss_model, argnums=(0, 1))(model, x)
    g_params_ref, g_x_ref = jax.grad(loss_reference, argnums=(0, 1))(params, x)
    for got, want in zip(
        jax.tree.leaves(_params(g_model, cfg.lstm_layers)),
        jax.tree.leaves(g_params_ref),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(g_x, g_x_ref, atol=2e-5, rtol=1e-4)
    # The padding of x gets no gradient: it does not reach a valid output.
    assert float(jnp.abs(g_x[1, 5:]).max()) == 0.0
