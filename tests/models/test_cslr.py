"""Stage-3 CSLR: shapes per variant, length arithmetic, masks, decode_step, gradients.

Shapes are checked with nnx.eval_shape (tracing only); value checks use one
jitted forward each, so the file compiles a handful of tiny programs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs.models import CSLR_VARIANTS, cslr_config
from signx_jax.models.cslr import CSLR, IsolatedHead
from signx_jax.models.summary import count_params
from signx_jax.schema import BLANK_ID, BOS_ID, PAD_ID
from tests.models import hand_counts

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


@nnx.jit(static_argnames=("det", "keys"))
def _run(m, latent, mask, prune, tokens, det, keys):
    out = m(latent, mask, prune, tokens, deterministic=det)
    return {k: v for k, v in out.items() if v is not None and (keys is None or k in keys)}


def _forward(model, *args, deterministic, keys=None):
    """Jitted forward (one compile per model structure) returning non-None outputs."""
    return _run(model, *args, det=deterministic, keys=keys)


@pytest.mark.parametrize("variant", CSLR_VARIANTS)
def test_shapes_every_variant(variant):
    cfg = cslr_config("tiny", variant)
    model = nnx.eval_shape(lambda: CSLR(cfg, V, rngs=nnx.Rngs(0)))  # shapes only: no init cost
    latent, mask = _inputs(cfg, [23, 17], 23)
    tokens = jnp.full((2, 5), BOS_ID, jnp.int32)
    out = nnx.eval_shape(
        lambda m: m(latent, mask, jnp.ones(cfg.latent_dim), tokens, deterministic=False), model
    )
    t_out = 23 // 4 if cfg.conv_padding == "same" else ((23 - 4) // 2 - 4) // 2
    assert out["ctc_logits"].shape == (2, t_out, V)
    assert out["enc"].shape[:2] == out["enc_mask"].shape == (2, t_out)
    assert out["out_lengths"].shape == (2,) and out["out_lengths"].dtype == jnp.int32
    assert out["compiled"].shape == latent.shape
    has_dec = variant not in ("vac_baseline", "no_transformer")
    assert (out["dec_logits"] is not None) == has_dec
    if has_dec:
        assert out["dec_logits"].shape == (2, 5, V)
        assert out["enc"].shape[-1] == cfg.width
    has_kd = variant not in ("vac_baseline", "no_distillation")
    assert (out["teacher_logits"] is not None) == has_kd
    if has_kd:
        assert out["teacher_logits"].shape == out["student_logits"].shape == (2, 23, V)
    assert (model.compiler is None) == (variant in ("vac_baseline", "no_feature_compilation"))


@pytest.mark.parametrize(
    ("variant", "lengths", "expected"),
    [("signx", [1, 3, 4, 7, 9, 23], [0, 0, 1, 1, 2, 5]), ("vac_baseline", [11, 16, 23], [0, 1, 2])],
)
def test_output_lengths_hand_values(variant, lengths, expected):
    model = nnx.eval_shape(lambda: CSLR(cslr_config("tiny", variant), V, rngs=nnx.Rngs(0)))
    np.testing.assert_array_equal(model.output_lengths(jnp.array(lengths)), expected)


def test_padding_changes_nothing_in_valid_outputs_vac():
    """Odd lengths 19 and 31; garbage instead of zeros in the padding leaves every valid output
    unchanged in train mode (masked BatchNorm statistics). If out_lengths counted one frame
    too many, that frame would see the garbage. (signx: see the gradient test.)"""
    cfg = _no_dropout(cslr_config("tiny", "vac_baseline"))
    model = CSLR(cfg, V, rngs=nnx.Rngs(1))
    latent, mask = _inputs(cfg, [19, 31], 31, seed=3)
    garbage = jnp.where(mask[..., None], latent, 100.0)
    a = _forward(nnx.clone(model), latent, mask, None, None, deterministic=False)
    b = _forward(nnx.clone(model), garbage, mask, None, None, deterministic=False)
    n = model.output_lengths(jnp.array([19, 31]))
    np.testing.assert_array_equal(a["out_lengths"], n)
    valid = np.asarray(a["enc_mask"])[..., None]
    assert valid.sum() == int(n.sum()) and int(n[0]) > 0
    np.testing.assert_allclose(a["ctc_logits"] * valid, b["ctc_logits"] * valid, atol=2e-4)


def test_feature_compilation_whitening_and_frame_drop():
    cfg = cslr_config("tiny")
    cfg.frame_drop = 0.5
    compiler = CSLR(cfg, V, rngs=nnx.Rngs(0)).compiler
    latent, mask = _inputs(cfg, [40, 40], 40)
    run = nnx.jit(lambda c, z, m, det: c(z, m, deterministic=det), static_argnames="det")
    z, kept = run(compiler, latent, mask, det=True)
    # Eval: no frame dropped; frame 0 has no predecessor so it is just the LayerNorm.
    assert bool(kept.all())
    ln = compiler.ln(latent)
    np.testing.assert_allclose(z[:, 0], ln[:, 0], atol=1e-5)
    prev, cur = ln[:, 0], ln[:, 1]
    c = (cur * prev).mean(-1, keepdims=True)
    np.testing.assert_allclose(z[:, 1], cur - cfg.whiten_gamma * c * prev, atol=1e-5)
    z, kept = run(compiler, latent, mask, det=False)
    assert 0.3 < float(kept.mean()) < 0.7
    assert float(jnp.abs(z).sum(-1)[~kept].max()) == 0.0
    assert float(jnp.abs(z).sum(-1)[kept].min()) > 0.0


def test_prune_mask_zeroes_dims_and_no_pruning_ignores_it():
    for variant, zeroed in (("signx", True), ("no_pruning", False)):
        cfg = cslr_config("tiny", variant)
        model = CSLR(cfg, V, rngs=nnx.Rngs(0))
        latent, mask = _inputs(cfg, [9], 9)
        prune = jnp.ones(cfg.latent_dim).at[::2].set(0.0)
        out = _forward(model, latent, mask, prune, None, deterministic=True, keys=("compiled",))
        assert bool((out["compiled"][..., ::2] == 0).all()) == zeroed


def test_decode_step_reproduces_teacher_forced_logits():
    cfg = cslr_config("tiny")
    model = CSLR(cfg, V, rngs=nnx.Rngs(2))
    latent, mask = _inputs(cfg, [21, 14], 21)
    tokens = jnp.array([[BOS_ID, 5, 7, 9, 6], [BOS_ID, 8, 8, 2, 0]], jnp.int32)
    out = _forward(model, latent, mask, None, tokens, deterministic=True)
    cache = model.init_decode_cache(2, 8)
    step_fn = nnx.jit(lambda m, e, em, t, s, c: m.decode_step(e, em, t, s, c))
    for i in range(tokens.shape[1]):
        step = jnp.int32(i)
        logits, attn, cache = step_fn(model, out["enc"], out["enc_mask"], tokens[:, i], step, cache)
        np.testing.assert_allclose(logits, out["dec_logits"][:, i], atol=1e-4)
        np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)
        assert float(jnp.abs(attn * ~out["enc_mask"]).max()) == 0.0


def test_gradients_finite_and_padding_invariant():
    """Train-mode BatchNorm (dropout off to keep the compile small): every branch gets a
    finite gradient, and garbage in the padding (odd lengths 19, 31) changes no valid
    output nor any gradient."""
    cfg = _no_dropout(cslr_config("tiny"))
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [19, 31], 31, seed=3)
    garbage = jnp.where(mask[..., None], latent, 100.0)
    tokens = jnp.array([[BOS_ID, 5, 6, 7], [BOS_ID, 8, 9, PAD_ID]], jnp.int32)
    heads = ("ctc_logits", "dec_logits", "student_logits", "teacher_logits")

    @nnx.jit
    def grads_of(m, latent):
        def loss_fn(m):
            out = m(latent, mask, None, tokens, deterministic=False)
            valid = {"ctc_logits": out["enc_mask"], "dec_logits": jnp.ones(tokens.shape, bool)}
            loss = 0.0
            for k in heads:
                w = valid.get(k, mask).astype(jnp.float32)
                loss += (jax.nn.log_softmax(out[k])[..., 5] * w).sum() / w.sum()
            return loss, {k: out[k] for k in (*heads, "out_lengths", "enc_mask")}

        return nnx.grad(loss_fn, has_aux=True)(m)

    grads, a = grads_of(nnx.clone(model), latent)
    grads_b, b = grads_of(nnx.clone(model), garbage)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert all(bool(jnp.isfinite(g).all()) for g in leaves)
    nonzero = [float(jnp.abs(g).max()) > 0 for g in leaves]
    assert np.mean(nonzero) > 0.95, f"{sum(nonzero)}/{len(nonzero)} params got gradient"

    n = model.output_lengths(jnp.array([19, 31]))
    np.testing.assert_array_equal(a["out_lengths"], n)
    valid = np.asarray(a["enc_mask"])[..., None]
    assert valid.sum() == int(n.sum()) and int(n[0]) > 0
    np.testing.assert_allclose(a["ctc_logits"] * valid, b["ctc_logits"] * valid, atol=2e-4)
    np.testing.assert_allclose(a["dec_logits"], b["dec_logits"], atol=2e-4)
    m = np.asarray(mask)[..., None]
    for key in ("teacher_logits", "student_logits"):
        np.testing.assert_allclose(a[key] * m, b[key] * m, atol=2e-4)
    for g1, g2 in zip(leaves, jax.tree.leaves(nnx.state(grads_b, nnx.Param)), strict=True):
        np.testing.assert_allclose(g1, g2, rtol=1e-3, atol=1e-4)


def test_ctc_loss_on_outputs_is_finite():
    """The training contract: optax CTC on ctc_logits with out_lengths padding, blank id 4."""
    cfg = cslr_config("tiny", "vac_baseline")
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [31, 24], 31)
    out = _forward(model, latent, mask, None, None, deterministic=True)
    labels = jnp.array([[5, 6], [7, PAD_ID]], jnp.int32)
    pad = 1.0 - out["enc_mask"].astype(jnp.float32)
    loss = optax.ctc_loss(
        out["ctc_logits"], pad, labels, (labels == PAD_ID).astype(jnp.float32), blank_id=BLANK_ID
    )
    assert loss.shape == (2,) and bool(jnp.isfinite(loss).all())


def test_bfloat16_compute_keeps_float32_params_and_logits():
    cfg = cslr_config("tiny", "no_transformer")
    cfg.dtype = "bfloat16"
    model = CSLR(cfg, V, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [12], 12)
    out = _forward(model, latent, mask, None, None, deterministic=True, keys=("ctc_logits",))
    assert out["ctc_logits"].dtype == jnp.float32
    assert bool(jnp.isfinite(out["ctc_logits"]).all())
    dtypes = {x.dtype for x in jax.tree.leaves(nnx.state(model, nnx.Param))}
    assert dtypes == {jnp.dtype("float32")}


def test_isolated_head_pools_valid_frames_only():
    cfg = cslr_config("tiny")
    head = IsolatedHead(cfg, 7, rngs=nnx.Rngs(0))
    latent, mask = _inputs(cfg, [5, 9], 9)
    run = nnx.jit(lambda h, z, m: h(z, m, deterministic=True))
    logits = run(head, latent, mask)
    assert logits.shape == (2, 7)
    moved = latent.at[0, 6:].set(50.0)
    np.testing.assert_allclose(run(head, moved, mask), logits, atol=1e-5)


def test_base_parameter_count_by_hand():
    """``base`` dims (tests/models/hand_counts.py), part by part and in total."""
    vocab = 1124
    model = nnx.eval_shape(lambda: CSLR(cslr_config("base"), vocab, rngs=nnx.Rngs(0)))
    hand = hand_counts.cslr_base(vocab)
    assert count_params(model.compiler) == hand["compiler"]
    assert count_params(model.conv) == hand["conv"]
    assert count_params(model.bilstm) == hand["lstm"]
    assert count_params(model.encoder) + count_params(model.enc_proj) == hand["encoder"]
    assert count_params(model.decoder) == hand["decoder"]
    assert count_params(model.teacher) == hand["teacher"]
    assert count_params(model.student) == hand["student"]
    assert count_params(model) == hand["total"]
