"""Stage 2 Video2Pose: shapes, frame mask, uint8/float input, video_to_latent."""

import jax
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


def test_flatten_pool_reads_where_each_patch_is():
    cfg = video2pose_config("tiny")  # 32 x 32 frames, patch 8: 16 tokens
    cfg.pool = "flatten"
    model = Video2Pose(cfg, rngs=nnx.Rngs(0))
    assert model.readout.kernel.shape == (16 * cfg.width, cfg.width)
    # Two frames whose patches are the same set in another order: a mean of
    # patch embeddings cannot tell them apart before attention, flatten can.
    rgb = np.zeros((1, 2, 32, 32, 3), np.uint8)
    rgb[0, 0, :8, :8] = 255
    rgb[0, 1, 24:, 24:] = 255
    feats = np.asarray(model.frame_features(jnp.asarray(rgb), deterministic=True))
    assert feats.shape == (1, 2, cfg.width)
    assert not np.allclose(feats[0, 0], feats[0, 1], atol=1e-3)
    cfg.pool = "max"
    with pytest.raises(ValueError, match="pool must be"):
        Video2Pose(cfg, rngs=nnx.Rngs(0))


def test_pose_statistics_set_the_output_scale():
    cfg = video2pose_config("tiny")
    model = Video2Pose(cfg, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(3)
    rgb = jnp.asarray(rng.integers(0, 256, (1, 3, 32, 32, 3)), jnp.uint8)
    mask = jnp.array([[True, True, False]])
    run = nnx.jit(lambda m, x, k: m(x, k, deterministic=True))
    raw = np.asarray(run(model, rgb, mask))
    mean = rng.normal(size=POSE_DIM).astype(np.float32)
    scale = rng.uniform(0.1, 2.0, POSE_DIM).astype(np.float32)
    model.set_pose_statistics(mean, scale)
    out = np.asarray(run(model, rgb, mask))
    np.testing.assert_allclose(out[0, :2], raw[0, :2] * scale + mean, rtol=1e-5, atol=1e-5)
    assert np.abs(out[0, 2]).max() == 0.0  # padded frames stay zero
    # Statistics are state, not parameters: the optimizer never sees them.
    assert not jax.tree.leaves(nnx.state(model, nnx.Param).filter(nnx.PathContains("pose_mean")))
