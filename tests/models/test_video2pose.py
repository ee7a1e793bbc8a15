"""Stage 2 Video2Pose: shapes, frame mask, uint8/float input, video_to_latent."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from configs.models import pose2gloss_config, video2pose_config
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
