"""Pixel-space CSLR (paper Table 8): frame encoders, the transformer-only recogniser,
frame independence, and the configs the training loop accepts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs.common import train_config
from configs.models import PIXEL_METHODS, apply_frame_encoder, cslr_config
from signx_jax.models.pixel import PixelCSLR, ResNetFrames, ViTFrames
from signx_jax.schema import BOS_ID
from signx_jax.train import faults

V, SIZE = 12, 32


def _cfg(method):
    cfg = apply_frame_encoder(cslr_config("tiny"), method, SIZE)
    cfg.dropout_attn = cfg.dropout_act = cfg.dropout_res = cfg.frame_drop = 0.0
    return cfg


@pytest.mark.parametrize("method", list(PIXEL_METHODS))
def test_shapes_from_rgb(method):
    cfg = _cfg(method)
    model = nnx.eval_shape(lambda: PixelCSLR(cfg, V, rngs=nnx.Rngs(0)))
    rgb = jax.ShapeDtypeStruct((2, 20, SIZE, SIZE, 3), jnp.uint8)
    mask = jnp.arange(20)[None] < jnp.array([[20], [13]])
    tokens = jnp.full((2, 4), BOS_ID, jnp.int32)
    out = nnx.eval_shape(
        lambda m, x: m(x, mask, jnp.ones(cfg.latent_dim), tokens, deterministic=False), model, rgb
    )
    # The CNN route keeps SignX's TemporalConv (T -> T/4); the ViT baseline runs at frame rate.
    t_out = 20 // 4 if method == "pixel_cnn" else 20
    assert out["ctc_logits"].shape == (2, t_out, V)
    assert out["dec_logits"].shape == (2, 4, V)
    np.testing.assert_array_equal(model.output_lengths(jnp.array([20, 13])),
                                  [5, 3] if method == "pixel_cnn" else [20, 13])  # fmt: skip
    assert (model.cslr.bilstm is None) == (method == "pixel_vit")
    assert (model.cslr.teacher is None) == (method == "pixel_vit")


@pytest.mark.parametrize("encoder", [ResNetFrames, ViTFrames])
def test_frame_encoder_sees_one_frame_at_a_time(encoder):
    """Each output frame depends on its own image only (no mixing across time or clips)."""
    cfg = _cfg("pixel_cnn" if encoder is ResNetFrames else "pixel_vit")
    model = encoder(cfg, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 3, SIZE, SIZE, 3), dtype=np.uint8)
    other = rgb.copy()
    other[1, 2] = 255 - other[1, 2]
    a, b = (np.asarray(model(jnp.asarray(x), deterministic=True)) for x in (rgb, other))
    assert a.shape == (2, 3, cfg.latent_dim)
    changed = np.abs(a - b).max(-1) > 1e-6
    assert changed[1, 2] and changed.sum() == 1


def test_gradients_reach_the_frame_encoder():
    cfg = _cfg("pixel_cnn")
    model = PixelCSLR(cfg, V, rngs=nnx.Rngs(0))
    rgb = jnp.asarray(np.random.default_rng(1).integers(0, 256, (1, 12, SIZE, SIZE, 3)), jnp.uint8)
    mask = jnp.ones((1, 12), bool)

    def loss(m):
        return jnp.sum(m(rgb, mask, None, None, deterministic=True)["ctc_logits"] ** 2)

    grads = nnx.grad(loss)(model)
    stem = np.asarray(grads.frames.stem.kernel[...])
    assert np.isfinite(stem).all() and np.abs(stem).max() > 0


@pytest.mark.parametrize("method", list(PIXEL_METHODS))
def test_training_config_is_valid(method):
    """The loop's config check knows the frame-encoder keys; an unknown encoder is named."""
    cfg = train_config("cslr", "tiny")
    apply_frame_encoder(cfg.model, method, 64)
    assert faults.config_problems(cfg) == []
    with cfg.unlocked():
        cfg.model.resnet_blockz = 1
    assert any("resnet_blockz" in p for p in faults.config_problems(cfg))
    with pytest.raises(ValueError, match="unknown pixel method"):
        apply_frame_encoder(cslr_config("tiny"), "pixel_rnn", 64)
