"""Stage 2 Video2Pose: shapes, frame mask, uint8/float input, video_to_latent."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs.models import pose2gloss_config, video2pose_config
from signx_jax.models import layers
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.models.video2pose import Video2Pose, patchify, video_to_latent
from signx_jax.schema import POSE_DIM


def test_patchify_order():
    frames = jnp.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3)
    patches = patchify(frames, 2)
    assert patches.shape == (2, 4, 12)
    np.testing.assert_array_equal(patches[0, 1].reshape(2, 2, 3), frames[0, :2, 2:4])


def test_forward_mask_and_latent():
    cfg = video2pose_config("tiny")
    model = Video2Pose(cfg, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    size = cfg.image_size
    rgb = jnp.asarray(rng.integers(0, 256, size=(2, 5, size, size, 3)), jnp.uint8)
    mask = jnp.array([[True] * 5, [True] * 3 + [False] * 2])
    run = nnx.jit(lambda m, x, k: m(x, k, deterministic=True))
    poses = run(model, rgb, mask)
    assert poses.shape == (2, 5, POSE_DIM) and poses.dtype == jnp.float32
    assert float(jnp.abs(poses[1, 3:]).max()) == 0.0
    moved = run(model, rgb.at[1, 3:].set(0), mask)
    np.testing.assert_allclose(moved, poses, atol=1e-5)
    as_float = nnx.eval_shape(lambda m: m(rgb / 255.0, mask, deterministic=True), model)
    assert as_float.shape == poses.shape
    p2g = Pose2Gloss(pose2gloss_config("tiny"), 9, rngs=nnx.Rngs(1))
    z = nnx.jit(video_to_latent)(model, p2g, rgb, mask)
    assert z.shape == (2, 5, pose2gloss_config("tiny").latent_dim)


def test_sincos2d_positions_tell_patches_apart():
    table = np.asarray(layers.sincos_2d_positions(4, 4, 16))
    assert table.shape == (16, 16) and np.abs(table).max() <= 1.0
    # Every patch has its own code; the row half depends only on the row.
    assert len({tuple(np.round(r, 5)) for r in table}) == 16
    np.testing.assert_allclose(table[1, :8], table[2, :8])  # same row 0
    assert not np.allclose(table[1, 8:], table[2, 8:])  # other column
    cfg = video2pose_config("tiny")
    assert cfg.posemb == "sincos2d"
    model = Video2Pose(cfg, rngs=nnx.Rngs(0))
    assert not hasattr(model, "pos_embedding")  # fixed: no parameters
    cfg.posemb = "learn"
    assert Video2Pose(cfg, rngs=nnx.Rngs(0)).pos_embedding.shape[0] == (
        (cfg.image_size // cfg.patch_size) ** 2 + 1
    )


def test_conv_stem_keeps_the_token_grid():
    cfg = video2pose_config("tiny")  # 32 x 32 frames, patch 8: 16 tokens
    cfg.stem_channels = (4, 8)
    model = Video2Pose(cfg, rngs=nnx.Rngs(0))
    rgb = jnp.asarray(np.random.default_rng(1).integers(0, 256, (1, 2, 32, 32, 3)), jnp.uint8)
    feats = model.frame_features(rgb, deterministic=True)
    assert feats.shape == (1, 2, cfg.width)
    assert model.patch_embed.kernel.shape == ((8 // 4) ** 2 * 8, cfg.width)
    cfg.stem_channels = (4, 8, 8, 8)  # stride 16 > patch 8
    with pytest.raises(ValueError, match="not divisible by the conv stem"):
        Video2Pose(cfg, rngs=nnx.Rngs(0))


def test_temporal_window_equals_running_each_window_alone():
    cfg = video2pose_config("tiny")
    cfg.temporal_window = 4
    model = Video2Pose(cfg, rngs=nnx.Rngs(0))
    size = cfg.image_size
    rgb = jnp.asarray(np.random.default_rng(2).integers(0, 256, (2, 10, size, size, 3)), jnp.uint8)
    mask = jnp.array([[True] * 10, [True] * 6 + [False] * 4])
    run = nnx.jit(lambda m, x, k: m(x, k, deterministic=True))
    whole = run(model, rgb, mask)
    for start in (0, 4, 8):
        alone = run(model, rgb[:, start : start + 4], mask[:, start : start + 4])
        np.testing.assert_allclose(whole[:, start : start + 4], alone, atol=1e-5)
    assert float(jnp.abs(whole[1, 6:]).max()) == 0.0
    cfg.temporal_window = 0  # whole-clip attention: frames see past the window
    full = run(Video2Pose(cfg, rngs=nnx.Rngs(0)), rgb, mask)
    assert not np.allclose(full[:, :4], whole[:, :4], atol=1e-5)
