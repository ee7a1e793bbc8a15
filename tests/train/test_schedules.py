"""Schedules against their formulas; optimizer builder and gradient accumulation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.common import STAGES, optim_config
from signx_jax.train import optimizers, schedules


def test_noam_formula_peak_and_decay():
    sched = schedules.noam(d_model=256, warmup=4000)
    for s in (0, 10, 3998, 3999, 4000, 10_000, 29_999):
        t = s + 1
        expected = 256**-0.5 * min(t * 4000**-1.5, t**-0.5)
        np.testing.assert_allclose(sched(s), expected, rtol=1e-5)
    # peak at count warmup - 1 (1-based step = warmup): (256 * 4000)^-0.5.
    np.testing.assert_allclose(sched(3999), (256 * 4000) ** -0.5, rtol=1e-5)
    assert sched(3999) > sched(3998) and sched(3999) > sched(4000)


def test_noam_scale_and_clamping():
    sched = schedules.noam(64, 100, scale=2.0, min_lr=0.005, max_lr=0.02)
    raw = lambda s: 2.0 * 64**-0.5 * min((s + 1) * 100**-1.5, (s + 1) ** -0.5)
    assert raw(0) < 0.005 and raw(99) > 0.02 and raw(10**6) < 0.005
    np.testing.assert_allclose(sched(0), 0.005)  # clamped up
    np.testing.assert_allclose(sched(99), 0.02)  # clamped down at the peak
    np.testing.assert_allclose(sched(10**6), 0.005)  # late decay floors at min_lr
    assert 0.005 < raw(30) < 0.02
    np.testing.assert_allclose(sched(30), raw(30), rtol=1e-5)


def test_warmup_cosine_formula():
    peak, end = 1e-3, 0.05e-3
    sched = schedules.warmup_cosine(peak, total_steps=100, warmup_fraction=0.1, end_factor=0.05)
    np.testing.assert_allclose(sched(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(sched(5), 0.5 * peak, rtol=1e-5)
    np.testing.assert_allclose(sched(10), peak, rtol=1e-5)
    for s in (10, 32, 55, 77, 100):
        cos = 0.5 * (1 + math.cos(math.pi * (s - 10) / 90))
        np.testing.assert_allclose(sched(s), end + (peak - end) * cos, rtol=1e-5)
    np.testing.assert_allclose(sched(250), end, rtol=1e-5)
    with pytest.raises(ValueError, match="warmup_fraction"):
        schedules.warmup_cosine(peak, 100, 1.0)


def test_default_configs_follow_table6_and_spec():
    s1 = optim_config("pose2gloss")
    assert (s1.name, s1.schedule, s1.lr, s1.weight_decay) == ("adamw", "cosine", 1e-3, 0.01)
    assert (s1.end_factor, s1.clip_norm, s1.grad_accum_steps) == (0.05, 7.0, 4)
    s2 = optim_config("video2pose")
    assert (s2.name, s2.end_factor, s2.warmup_fraction, s2.clip_norm) == ("adamw", 0.01, 0.1, 1.0)
    s3 = optim_config("cslr")
    assert (s3.name, s3.schedule, s3.b1, s3.b2) == ("adam", "noam", 0.9, 0.998)
    assert (s3.noam_d_model, s3.noam_warmup, s3.grad_accum_steps) == (256, 4000, 16)
    with pytest.raises(ValueError, match="unknown stage"):
        optim_config("stage4")
    for stage in STAGES:
        cfg = optim_config(stage)
        tx, sched = optimizers.make_optimizer(cfg, total_steps=1000)
        tx.init({"w": jnp.zeros((2, 2))})
        assert float(sched(10)) > 0


def _params():
    return {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.1, -0.1])}


def test_grad_accumulation_applies_mean_gradient_every_k_steps():
    cfg = optim_config("pose2gloss")
    cfg.update(schedule="constant", lr=0.1, grad_accum_steps=3, clip_norm=0.0)
    tx_acc, _ = optimizers.make_optimizer(cfg, total_steps=10)
    cfg_one = cfg.copy_and_resolve_references()
    cfg_one.grad_accum_steps = 1
    tx_one, _ = optimizers.make_optimizer(cfg_one, total_steps=10)

    params = _params()
    rng = np.random.default_rng(0)
    grads = [jax.tree.map(lambda p: jnp.array(rng.normal(size=p.shape)), params) for _ in range(3)]
    state = tx_acc.init(params)
    update = jax.jit(tx_acc.update)  # one compile of MultiSteps' cond, not three
    for i, g in enumerate(grads):
        updates, state = update(g, state, params)
        if i < 2:  # accumulating: no parameter change yet
            for u in jax.tree.leaves(updates):
                np.testing.assert_array_equal(u, 0.0)
    mean_grad = jax.tree.map(lambda *gs: sum(gs) / 3, *grads)
    expected, _ = tx_one.update(mean_grad, tx_one.init(params), params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), updates, expected)


def test_adamw_decays_matrices_only_and_adam_rejects_weight_decay():
    cfg = optim_config("pose2gloss")
    cfg.update(schedule="constant", lr=0.1, weight_decay=0.5, grad_accum_steps=1)
    tx, _ = optimizers.make_optimizer(cfg, total_steps=10)
    params = _params()
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zero, tx.init(params), params)
    # zero gradient: only decoupled decay, -lr * wd * p, and only on the matrix.
    np.testing.assert_allclose(updates["w"], -0.1 * 0.5 * params["w"], rtol=1e-6)
    np.testing.assert_array_equal(updates["b"], 0.0)
    cfg.update(name="adam")
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.make_optimizer(cfg, total_steps=10)


def test_clipping_uses_global_norm():
    cfg = optim_config("cslr")
    # b1 = 0, eps huge: the Adam step is ~ lr * g / eps, so it shows the clipped g.
    cfg.update(schedule="constant", lr=1.0, b1=0.0, eps=1e6, clip_norm=1.0, grad_accum_steps=1)
    tx, _ = optimizers.make_optimizer(cfg, total_steps=10)
    params = {"w": jnp.zeros((2,))}
    g = {"w": jnp.array([30.0, 40.0])}  # norm 50 -> clipped to (0.6, 0.8)
    updates, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], -np.array([0.6, 0.8]) / 1e6, rtol=1e-3)
