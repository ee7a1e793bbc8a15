"""Stage 1 Pose2Gloss: shapes, frame and stream masks, stream subsets, decode_step, base size."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from configs.models import pose2gloss_config
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.models.summary import count_params
from signx_jax.schema import BOS_ID, POSE_DIM, STREAMS, stream_offsets
from tests.models import hand_counts

V = 15


def _batch(lengths, num_frames, seed=0):
    rng = np.random.default_rng(seed)
    poses = jnp.asarray(rng.normal(size=(len(lengths), num_frames, POSE_DIM)), jnp.float32)
    mask = jnp.asarray(np.arange(num_frames)[None] < np.asarray(lengths)[:, None])
    presence = jnp.ones((len(lengths), num_frames, len(STREAMS)), bool)
    return poses, presence, mask


_encode = nnx.jit(lambda m, p, s, k: m.encode(p, s, k, deterministic=True))


def test_shapes_and_contrastive_embeddings():
    cfg = pose2gloss_config("tiny")
    model = nnx.eval_shape(lambda: Pose2Gloss(cfg, V, rngs=nnx.Rngs(0)))
    poses, presence, mask = _batch([9, 6], 9)
    tokens = jnp.array([[BOS_ID, 5, 6], [BOS_ID, 7, 0]], jnp.int32)
    z, logits = nnx.eval_shape(
        lambda m: m(poses, presence, mask, tokens, deterministic=False), model
    )
    assert z.shape == (2, 9, cfg.latent_dim) and logits.shape == (2, 3, V)
    zv, zt = nnx.eval_shape(
        lambda m: m.contrastive_embeddings(jnp.ones(z.shape), mask, tokens, tokens > 0), model
    )
    assert zv.shape == zt.shape == (2, cfg.contrastive_dim)
    assert nnx.eval_shape(lambda m: m.embedding_matrix(), model).shape == (V, cfg.dec_width)
    assert model.token_embedding.embedding.shape == (V, cfg.dec_width)


def test_padded_frames_and_absent_streams_change_nothing():
    model = Pose2Gloss(pose2gloss_config("tiny"), V, rngs=nnx.Rngs(0))
    poses, presence, mask = _batch([9, 6], 9)
    start, end = stream_offsets()["smplerx"]
    presence = presence.at[0, 2:5, 2].set(False)  # smplerx missing on frames 2..4 of clip 0
    z = _encode(model, poses, presence, mask)
    changed = poses.at[1, 6:].set(1e3).at[0, 2:5, start:end].set(-50.0)
    np.testing.assert_allclose(_encode(model, changed, presence, mask), z, atol=1e-5)
    assert float(jnp.abs(z[1, 6:]).max()) == 0.0
    # ... while a *present* stream does matter.
    other = poses.at[0, 6, start:end].set(-50.0)
    assert float(jnp.abs(_encode(model, other, presence, mask) - z).max()) > 1e-3
    # A frame with no present stream at all stays finite.
    none = presence.at[0, 3].set(False)
    assert bool(jnp.isfinite(_encode(model, poses, none, mask)).all())


def test_disabled_streams_are_ignored():
    cfg = pose2gloss_config("tiny")
    cfg.streams = ("dwpose", "mediapipe")
    model = Pose2Gloss(cfg, V, rngs=nnx.Rngs(0))
    assert sorted(model.fusion.encoders.keys()) == ["dwpose", "mediapipe"]
    poses, presence, mask = _batch([5], 5)
    z = _encode(model, poses, presence, mask)
    start = stream_offsets()["smplerx"][0]
    np.testing.assert_allclose(_encode(model, poses.at[..., start:].set(7.0), presence, mask), z)


def test_decode_step_and_gradients():
    cfg = pose2gloss_config("tiny")
    cfg.remat = "full"  # exercises nnx.remat in the encoder and decoder stacks
    model = Pose2Gloss(cfg, V, rngs=nnx.Rngs(1))
    poses, presence, mask = _batch([7, 4], 7)
    tokens = jnp.array([[BOS_ID, 5, 6, 9], [BOS_ID, 7, 8, 8]], jnp.int32)

    @nnx.jit
    def step(m):
        def loss_fn(m):
            z, logits = m(poses, presence, mask, tokens, deterministic=True)
            zv, zt = m.contrastive_embeddings(z, mask, tokens, tokens > 0)
            return jax.nn.log_softmax(logits)[..., 5].mean() + (zv * zt).mean(), (z, logits)

        return nnx.grad(loss_fn, has_aux=True)(m)

    grads, (z, logits) = step(model)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert all(bool(jnp.isfinite(g).all()) for g in leaves)
    assert np.mean([float(jnp.abs(g).max()) > 0 for g in leaves]) > 0.95
    cache = model.init_decode_cache(2, 6)
    decode = nnx.jit(lambda m, z, k, t, s, c: m.decode_step(z, k, t, s, c))
    for i in range(tokens.shape[1]):
        out, _, cache = decode(model, z, mask, tokens[:, i], jnp.int32(i), cache)
        np.testing.assert_allclose(out, logits[:, i], atol=1e-4)


def test_base_parameter_count_by_hand():
    """``base`` dims (tests/models/hand_counts.py): fusion, ViT, CodeBook decoder and in total."""
    model = nnx.eval_shape(lambda: Pose2Gloss(pose2gloss_config("base"), 1124, rngs=nnx.Rngs(0)))
    hand = hand_counts.pose2gloss_base(1124)
    assert count_params(model.fusion) == hand["fusion"]
    assert count_params(model.vit) == hand["vit"]
    assert count_params(model.decoder) == hand["decoder"]
    assert count_params(model) == hand["total"]
