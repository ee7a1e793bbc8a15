"""Stage-3 CSLR: shapes per variant, length arithmetic, masks, decode_step, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs.models import CSLR_VARIANTS, cslr_config
from signx_jax.models.cslr import CSLR, IsolatedHead
from signx_jax.models.summary import count_params
from signx_jax.schema import BOS_ID

V = 12


def _no_dropout(cfg):
    cfg.dropout_attn = cfg.dropout_act = cfg.dropout_res = 0.0
    cfg.frame_drop = 0.0
    return cfg


def _inputs(cfg, lengths, num_frames, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(len(lengths), num_frames, cfg.latent_dim)).astype(np.float32)
    mask = np.arange(num_frames)[None] < np.asarray(lengths)[:, None]
    return jnp.asarray(latent * mask[..., None]), jnp.asarray(mask)


@pytest.mark.parametrize("variant", CSLR_VARIANTS)
def test_shapes_every_variant(variant):
    cfg = cslr_config("tiny", variant)
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [23, 17], 23)
    tokens = jnp.full((2, 5), BOS_ID, jnp.int32)
    out = model(latent, mask, jnp.ones(cfg.latent_dim), tokens, deterministic=False)
    t_out = 23 // 4 if cfg.conv_padding == "same" else ((23 - 4) // 2 - 4) // 2
    assert out["ctc_logits"].shape == (2, t_out, V)
    assert out["enc"].shape[:2] == out["enc_mask"].shape == (2, t_out)
    np.testing.assert_array_equal(out["out_lengths"], model.output_lengths(jnp.array([23, 17])))
    np.testing.assert_array_equal(out["enc_mask"].sum(1), out["out_lengths"])
    assert out["compiled"].shape == latent.shape
    has_dec = variant not in ("vac_baseline", "no_transformer")
    assert (out["dec_logits"] is not None) == has_dec
    if has_dec:
        assert out["dec_logits"].shape == (2, 5, V)
        assert out["enc"].shape[-1] == cfg.width
    has_kd = variant != "vac_baseline"
    assert (out["teacher_logits"] is not None) == has_kd
    if has_kd:
        assert out["teacher_logits"].shape == out["student_logits"].shape == (2, 23, V)
    assert all(bool(jnp.isfinite(v).all()) for v in jax.tree.leaves(out))


@pytest.mark.parametrize(
    ("variant", "lengths", "expected"),
    [("signx", [1, 3, 4, 7, 9, 23], [0, 0, 1, 1, 2, 5]), ("vac_baseline", [11, 16, 23], [0, 1, 2])],
)
def test_output_lengths_hand_values(variant, lengths, expected):
    model = nnx.eval_shape(lambda: CSLR(cslr_config("tiny", variant), V, rngs=nnx.Rngs(0)))
    np.testing.assert_array_equal(model.output_lengths(jnp.array(lengths)), expected)


@pytest.mark.parametrize("variant", ["signx", "vac_baseline"])
def test_padding_changes_nothing_in_valid_outputs(variant):
    """Odd length 19 alone vs padded to 31 with garbage: valid outputs identical (train-mode BN)."""
    cfg = _no_dropout(cslr_config("tiny", variant))
    model = CSLR(cfg, V, rngs=nnx.Rngs(1))
    graphdef, state = nnx.split(model)
    tokens = jnp.array([[BOS_ID, 5, 6, 7]], jnp.int32)

    @jax.jit
    def run(state, latent, mask):
        out = nnx.merge(graphdef, state)(latent, mask, None, tokens, deterministic=False)
        out.pop("compiled_mask")
        return out

    short, short_mask = _inputs(cfg, [19], 19, seed=3)
    noise = 100.0 * jnp.ones((1, 12, cfg.latent_dim))
    long = jnp.concatenate([short, noise], axis=1)
    long_mask = jnp.concatenate([short_mask, jnp.zeros((1, 12), bool)], axis=1)
    a, b = run(state, short, short_mask), run(state, long, long_mask)
    n = int(a["out_lengths"][0])
    assert n == int(b["out_lengths"][0]) == int(model.output_lengths(jnp.array([19]))[0]) > 0
    np.testing.assert_allclose(a["ctc_logits"][:, :n], b["ctc_logits"][:, :n], atol=2e-4)
    if a["dec_logits"] is not None:
        np.testing.assert_allclose(a["dec_logits"], b["dec_logits"], atol=2e-4)
        np.testing.assert_allclose(a["teacher_logits"], b["teacher_logits"][:, :19], atol=2e-4)
        np.testing.assert_allclose(a["student_logits"], b["student_logits"][:, :19], atol=2e-4)


def test_feature_compilation_whitening_and_frame_drop():
    cfg = cslr_config("tiny")
    cfg.frame_drop = 0.5
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [40, 40], 40)
    out = model(latent, mask, None, None, deterministic=True)
    # Deterministic: no frame dropped; frame 0 has no predecessor so it is just LayerNorm.
    assert bool(out["compiled_mask"].all())
    ln = model.compiler.ln(latent)
    np.testing.assert_allclose(out["compiled"][:, 0], ln[:, 0], atol=1e-5)
    prev, cur = ln[:, 0], ln[:, 1]
    c = (cur * prev).mean(-1, keepdims=True)
    np.testing.assert_allclose(out["compiled"][:, 1], cur - cfg.whiten_gamma * c * prev, atol=1e-5)
    train = model(latent, mask, None, None, deterministic=False)
    kept = train["compiled_mask"]
    assert 0.2 < float(kept.mean()) < 0.8
    assert float(jnp.abs(train["compiled"]).sum(-1)[~kept].max()) == 0.0
    np.testing.assert_array_equal(train["out_lengths"], out["out_lengths"])


def test_prune_mask_zeroes_dims_and_no_pruning_ignores_it():
    for variant, zeroed in (("signx", True), ("no_pruning", False)):
        cfg = cslr_config("tiny", variant)
        model = CSLR(cfg, V, rngs=nnx.Rngs(0))
        latent, mask = _inputs(cfg, [9], 9)
        prune = jnp.ones(cfg.latent_dim).at[::2].set(0.0)
        out = model(latent, mask, prune, None, deterministic=True)
        assert bool((out["compiled"][..., ::2] == 0).all()) == zeroed


def test_decode_step_reproduces_teacher_forced_logits():
    cfg = cslr_config("tiny")
    model = CSLR(cfg, V, rngs=nnx.Rngs(2))
    latent, mask = _inputs(cfg, [21, 14], 21)
    tokens = jnp.array([[BOS_ID, 5, 7, 9, 6], [BOS_ID, 8, 8, 2, 0]], jnp.int32)
    out = model(latent, mask, None, tokens, deterministic=True)
    cache = model.init_decode_cache(2, 8)
    step_fn = nnx.jit(lambda m, e, em, t, s, c: m.decode_step(e, em, t, s, c))
    for i in range(tokens.shape[1]):
        logits, attn, cache = step_fn(model, out["enc"], out["enc_mask"], tokens[:, i], i, cache)
        np.testing.assert_allclose(logits, out["dec_logits"][:, i], atol=1e-4)
        np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)
        assert float(jnp.abs(attn * ~out["enc_mask"]).max()) == 0.0


def test_gradients_finite_and_reach_every_branch():
    cfg = cslr_config("tiny")
    cfg.remat = "dots"
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [26, 19], 26)
    labels = jnp.array([[5, 6, 7], [8, 9, 0]], jnp.int32)
    tokens = jnp.array([[BOS_ID, 5, 6, 7], [BOS_ID, 8, 9, 0]], jnp.int32)

    def loss_fn(m):
        out = m(latent, mask, None, tokens, deterministic=False)
        pad = 1.0 - out["enc_mask"].astype(jnp.float32)
        ctc = optax.ctc_loss(out["ctc_logits"], pad, labels, (labels == 0).astype(jnp.float32), 4)
        ce = optax.softmax_cross_entropy_with_integer_labels(out["dec_logits"][:, :3], labels)
        kd = optax.kl_divergence(
            jax.nn.log_softmax(out["student_logits"]), jax.nn.softmax(out["teacher_logits"])
        )
        return ctc.mean() + ce.mean() + kd.mean() + jax.nn.logsumexp(out["teacher_logits"]).mean()

    grads = nnx.grad(loss_fn)(model)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert all(bool(jnp.isfinite(g).all()) for g in leaves)
    nonzero = [float(jnp.abs(g).max()) > 0 for g in leaves]
    assert np.mean(nonzero) > 0.95, f"{sum(nonzero)}/{len(nonzero)} params got gradient"


def test_bfloat16_compute_keeps_float32_params_and_logits():
    cfg = cslr_config("tiny")
    cfg.dtype = "bfloat16"
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [12], 12)
    out = model(latent, mask, None, jnp.full((1, 3), BOS_ID), deterministic=True)
    assert out["ctc_logits"].dtype == out["dec_logits"].dtype == jnp.float32
    assert bool(jnp.isfinite(out["ctc_logits"]).all())
    dtypes = {x.dtype for x in jax.tree.leaves(nnx.state(model, nnx.Param))}
    assert dtypes == {jnp.dtype("float32")}


def test_isolated_head():
    cfg = cslr_config("tiny")
    head = IsolatedHead(cfg, 7, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [5, 9], 9)
    logits = head(latent, mask, deterministic=True)
    assert logits.shape == (2, 7)
    moved = latent.at[0, 6:].set(50.0)
    np.testing.assert_allclose(head(moved, mask, deterministic=True), logits, atol=1e-5)


def _encoder_layer(w, f):
    return 4 * (w * w + w) + 2 * 2 * w + (w * f + f) + (f * w + w)


def _decoder_layer(w, f, kv):
    return 4 * (w * w + w) + 2 * (kv * w + w) + 2 * (w * w + w) + 3 * 2 * w + (w * f + f) + (f * w + w)


def test_base_parameter_count_by_hand():
    """Paper/SPEC dims: latent 2048, 3 x 512 conv branches -> 1024, BiLSTM 2 x 512 per
    direction, width 256, 6 + 6 layers, FFN 4096, student 1024, ResNet-34 teacher."""
    vocab = 1124
    model = nnx.eval_shape(lambda: CSLR(cslr_config("base"), vocab, rngs=nnx.Rngs(0)))
    d, c, tw, h, w, f = 2048, 512, 1024, 512, 256, 4096
    compiler = 2 * d
    conv = sum(k * d * c + 2 * c + k * c * c + 2 * c for k in (3, 5, 7)) + 3 * c * tw + tw
    lstm = 2 * (tw * 4 * h + 4 * h + h * 4 * h) + 2 * (2 * h * 4 * h + 4 * h + h * 4 * h)
    enc = (2 * h * w + w) + 6 * _encoder_layer(w, f) + 2 * w
    ctc = w * vocab + vocab
    dec = vocab * w + 6 * _decoder_layer(w, f, w) + 2 * w + (w * vocab + vocab)
    student = (d * 1024 + 1024) + (1024 * vocab + vocab)
    teacher, in_ch = 7 * d * 64 + 2 * 64, 64
    for n, ch in zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True):
        for _ in range(n):
            teacher += 3 * in_ch * ch + 3 * ch * ch + 4 * ch
            teacher += (in_ch * ch + 2 * ch) if in_ch != ch else 0
            in_ch = ch
    teacher += 512 * vocab + vocab
    expected = compiler + conv + lstm + enc + ctc + dec + student + teacher
    assert count_params(model) == expected
    assert count_params(model.encoder) + count_params(model.enc_proj) == enc
