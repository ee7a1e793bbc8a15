"""Rule table, mesh validation, logical axes on every parameter, and 8 devices == 1 device
for the sharded stages (CSLR in train mode, Pose2Gloss, Video2Pose, video -> z_latent)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from configs.models import cslr_config, pose2gloss_config, video2pose_config
from signx_jax import sharding
from signx_jax.models.cslr import CSLR, IsolatedHead
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.models.video2pose import Video2Pose, video_to_latent
from signx_jax.schema import BOS_ID, POSE_DIM, STREAMS


def test_make_mesh_validates_device_count():
    assert jax.device_count() == 8, "tests/conftest.py must simulate 8 CPU devices"
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert dict(sharding.make_mesh(fsdp=4).shape) == {"data": 2, "fsdp": 4, "tensor": 1}
    with pytest.raises(ValueError, match="product must equal the device count"):
        sharding.make_mesh(data=3, fsdp=2)
    with pytest.raises(ValueError, match="not divisible"):
        sharding.make_mesh(fsdp=3)


def test_logical_to_spec_rules():
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    assert sharding.logical_to_spec(("embed", "mlp"), mesh) == P("fsdp", "tensor")
    assert sharding.logical_to_spec(("batch", "length", "act_embed"), mesh) == P(
        ("data", "fsdp"), None, None
    )
    # A mesh axis is used once; an indivisible dimension is replicated instead of failing.
    assert sharding.logical_to_spec(("embed", "embed"), mesh) == P("fsdp", None)
    assert sharding.logical_to_spec(("embed", "vocab"), mesh, shape=(64, 7)) == P("fsdp", None)
    with pytest.raises(KeyError, match="not in LOGICAL_AXIS_RULES"):
        sharding.logical_to_spec(("nonsense",), mesh)


def _video2pose_with_stem():
    cfg = video2pose_config("tiny")
    cfg.stem_channels = (8, 16)
    return Video2Pose(cfg, rngs=nnx.Rngs(0))


_MODELS = {
    "pose2gloss": lambda: Pose2Gloss(pose2gloss_config("tiny"), 12, rngs=nnx.Rngs(0)),
    "video2pose": lambda: Video2Pose(video2pose_config("tiny"), rngs=nnx.Rngs(0)),
    "video2pose_stem": _video2pose_with_stem,
    "cslr": lambda: CSLR(cslr_config("tiny"), 12, rngs=nnx.Rngs(0)),
    "isolated": lambda: IsolatedHead(cslr_config("tiny"), 8, rngs=nnx.Rngs(0)),
}


@pytest.mark.parametrize("name", _MODELS)
def test_every_param_has_logical_axes(name):
    model = nnx.eval_shape(_MODELS[name])
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    missing = [p for p, v in flat if not v.get_metadata().get("out_sharding")]
    assert not missing, f"params without logical axes: {missing[:5]}"
    for path, v in flat:
        assert len(v.get_metadata()["out_sharding"]) == np.ndim(v.get_value()), path


def test_sharded_train_forward_equals_single_device():
    """data=2, fsdp=2, tensor=2: params by the rule table, batch over (data, fsdp). Train-mode
    BatchNorm must use global batch statistics, so outputs and the updated running stats
    match the single-device run."""
    cfg = cslr_config("tiny")
    cfg.dropout_attn = cfg.dropout_act = cfg.dropout_res = cfg.frame_drop = 0.0
    vocab = 12
    model = CSLR(cfg, vocab, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    lengths = np.array([17, 24, 9, 21])
    mask = jnp.asarray(np.arange(24)[None] < lengths[:, None])
    latent = jnp.asarray(rng.normal(size=(4, 24, cfg.latent_dim)), jnp.float32)
    # Shift the clips apart so per-shard BatchNorm statistics would differ from global ones.
    latent = latent * jnp.arange(1, 5)[:, None, None] + jnp.arange(4)[:, None, None]
    tokens = jnp.asarray(rng.integers(5, vocab, size=(4, 6)), jnp.int32).at[:, 0].set(BOS_ID)
    prune = jnp.ones(cfg.latent_dim)

    def forward(m, latent, mask, prune, tokens):
        out = m(latent, mask, prune, tokens, deterministic=False)
        return out["ctc_logits"], out["dec_logits"], out["teacher_logits"]

    single = nnx.clone(model)
    ref = nnx.jit(forward)(single, latent, mask, prune, tokens)

    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    with jax.set_mesh(mesh):
        sharded = sharding.shard_model(nnx.clone(model), mesh)
        spec = sharded.ctc_head.kernel.get_value().sharding.spec
        assert spec == P("fsdp", "tensor")
        batch = jax.device_put((latent, mask, tokens), sharding.batch_sharding(mesh))
        out = nnx.jit(forward)(sharded, batch[0], batch[1], prune, batch[2])
    assert out[0].sharding.mesh.devices.size == 8
    for a, b in zip(ref, out, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-4)
    stats_ref = jax.tree.leaves(nnx.state(single, nnx.BatchStat))
    stats_out = jax.tree.leaves(nnx.state(sharded, nnx.BatchStat))
    assert len(stats_ref) > 0
    for a, b in zip(stats_ref, stats_out, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)


def test_stages_1_and_2_sharded_equal_single_device():
    """Pose2Gloss (z, CodeBook logits), Video2Pose and video -> z_latent, jitted on a
    (data=2, fsdp=2, tensor=2) mesh with params placed by the rule table."""
    p2g = Pose2Gloss(pose2gloss_config("tiny"), 12, rngs=nnx.Rngs(0))
    v2p_cfg = video2pose_config("tiny")
    v2p = Video2Pose(v2p_cfg, rngs=nnx.Rngs(1))
    rng = np.random.default_rng(0)
    b, t, size = 4, 6, v2p_cfg.image_size
    poses = jnp.asarray(rng.normal(size=(b, t, POSE_DIM)), jnp.float32)
    presence = jnp.asarray(rng.random((b, t, len(STREAMS))) > 0.2)
    mask = jnp.asarray(np.arange(t)[None] < np.array([6, 3, 5, 1])[:, None])
    tokens = jnp.asarray(rng.integers(5, 12, size=(b, 4)), jnp.int32).at[:, 0].set(BOS_ID)
    rgb = jnp.asarray(rng.integers(0, 256, size=(b, t, size, size, 3)), jnp.uint8)

    @nnx.jit
    def forward(p2g, v2p, poses, presence, mask, tokens, rgb):
        z, logits = p2g(poses, presence, mask, tokens, deterministic=True)
        return z, logits, v2p(rgb, mask, deterministic=True), video_to_latent(v2p, p2g, rgb, mask)

    ref = forward(p2g, v2p, poses, presence, mask, tokens, rgb)
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    with jax.set_mesh(mesh):
        p2g_s = sharding.shard_model(nnx.clone(p2g), mesh)
        v2p_s = sharding.shard_model(nnx.clone(v2p), mesh)
        assert p2g_s.vit.layers[0].mlp.fc1.kernel.get_value().sharding.spec == P("fsdp", "tensor")
        assert v2p_s.spatial.layers[0].attn.query.kernel.get_value().sharding.spec == P(
            "fsdp", "tensor"
        )
        batch = jax.device_put((poses, presence, mask, tokens, rgb), sharding.batch_sharding(mesh))
        out = forward(p2g_s, v2p_s, *batch)
    for a, b in zip(ref, out, strict=True):
        assert b.sharding.mesh.devices.size == 8
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-4)


def test_tactics_replicate_and_fsdp():
    mesh = sharding.make_mesh(data=2, fsdp=4)
    model = nnx.eval_shape(lambda: CSLR(cslr_config("tiny"), 12, rngs=nnx.Rngs(0)))
    state = nnx.state(model, nnx.Param)
    rep = jax.tree.leaves(sharding.model_shardings(state, mesh, "replicate"))
    assert all(s.spec == P() for s in rep)
    fs = jax.tree.leaves(sharding.model_shardings(state, mesh, "fsdp"))
    assert any("fsdp" in jax.tree.leaves(tuple(s.spec)) for s in fs)
