"""The three stage tasks (signx_jax/train/tasks.py) on tiny batches, without a Trainer.

Loss and eval functions run jitted (forward only: far cheaper than eager op by
op dispatch, and than compiling a whole train step) on freshly built tiny models;
``update_aux`` (adaptive pruning) is checked
against hand-made activation statistics.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs.common import train_config
from signx_jax import schema
from signx_jax.data import pipeline
from signx_jax.data.vocab import Vocabulary
from signx_jax.models.video2pose import colour_jitter
from signx_jax.train import tasks
from signx_jax.train.state import Step
from tests.data.factory import make_clips, make_latent

BATCH, BUCKET, MAX_LABELS = 4, 32, 6


def _vocab(records) -> Vocabulary:
    return Vocabulary.build([r["gloss"] for r in records])


def _batch(records, vocab, features) -> dict:
    """First eval batch (3 records + 1 padding row) as jax arrays."""
    it = pipeline.make_eval_iterator(
        records, vocab, batch_size=BATCH, buckets=(BUCKET,), features=features,
        max_label_len=MAX_LABELS, shard_index=0, shard_count=1,
    )  # fmt: skip
    return jax.tree.map(jnp.asarray, next(it))


def _no_dropout(model_cfg) -> None:
    model_cfg.dropout_attn = model_cfg.dropout_act = model_cfg.dropout_res = 0.0


def _jitted(task, model, name):
    """task.<name>(model, aux, batch[, step]) as a jitted function of (aux, batch)."""
    graphdef, state = nnx.split(model)
    fn = getattr(task, name)

    def call(state, aux, batch):
        m = nnx.merge(graphdef, state, copy=True)
        return fn(m, aux, batch, Step.at(0)) if name == "loss_fn" else fn(m, aux, batch)

    return lambda aux, batch: jax.jit(call)(state, aux, batch)


def _loss_and_grads(task, model, aux, batch):
    """Jitted task.loss_fn and its gradient w.r.t. the trainable params."""
    graphdef, params, rest = nnx.split(model, task.trainable, ...)

    def loss_of(params, rest, aux, batch):
        m = nnx.merge(graphdef, params, rest, copy=True)
        return task.loss_fn(m, aux, batch, Step.at(0))

    return jax.jit(jax.value_and_grad(loss_of, has_aux=True))(params, rest, aux, batch)


def _check_loss(task, model, aux, batch):
    """Loss, every loss term and every gradient finite (all weights of the config on)."""
    (loss, (metrics, aux_stats)), grads = _loss_and_grads(task, model, aux, batch)
    assert loss.shape == () and np.isfinite(float(loss)), float(loss)
    assert float(loss) > 0.0
    for name, value in metrics.items():
        assert np.all(np.isfinite(np.asarray(value))), name
    leaves = nnx.to_flat_state(grads)
    assert leaves and all(np.all(np.isfinite(np.asarray(g.get_value()))) for _, g in leaves)
    return metrics, aux_stats


def _check_passthrough(out, batch):
    for key in ("valid", "labels", "label_lengths", "index"):
        np.testing.assert_array_equal(np.asarray(out[key]), np.asarray(batch[key]))


def _check_hyp(out, vocab_size):
    hyp = np.asarray(out["hyp"])
    assert hyp.ndim == 2 and hyp.shape[0] == BATCH
    assert np.all((hyp == -1) | ((hyp >= 0) & (hyp < vocab_size))), hyp


# -- the Task contract ----------------------------------------------------------------


def _every_task():
    from configs import synthetic_translation, wlasl_isolated
    from signx_jax.train.isolated import IsolatedTask
    from signx_jax.train.translation import TranslationTask

    return [
        tasks.Pose2GlossTask(train_config("pose2gloss", "tiny"), 12),
        tasks.Video2PoseTask(train_config("video2pose", "tiny"), 12),
        tasks.CSLRTask(train_config("cslr", "tiny"), 12),
        IsolatedTask(wlasl_isolated.get_config("tiny"), 12),
        TranslationTask(synthetic_translation.get_config("tiny"), 12, 20),
    ]


@pytest.mark.parametrize("index", range(5))
def test_every_task_implements_the_task_protocol(index):
    """Each stage's task has the members the loop uses, callable as the loop calls
    them (loop.py, fit.py, evaluate.py)."""
    import inspect

    task = _every_task()[index]
    assert isinstance(task, tasks.Task), type(task).__name__
    assert isinstance(task.name, str) and isinstance(task.features, tuple)
    calls = {
        "build_model": ((nnx.Rngs(0),), {}),
        "init_aux": ((), {}),
        "update_aux": (({}, None, Step.at(0)), {}),
        "loss_fn": ((None, {}, {}, Step.at(0)), {}),
        "eval_fn": ((None, {}, {}), {}),
        "summarize_eval": (([],), dict(vocab=None, target_vocab=None, source=[], dataset="none")),
    }
    for name, (args, kwargs) in calls.items():
        inspect.signature(getattr(task, name)).bind(*args, **kwargs)


# -- Pose2Gloss -----------------------------------------------------------------------


def test_pose2gloss_loss_and_eval():
    clips = make_clips(3, seed=1, rgb=False)
    vocab = _vocab(clips)
    cfg = train_config("pose2gloss", "tiny")
    cfg.data.max_label_len = MAX_LABELS
    task = tasks.Pose2GlossTask(cfg, len(vocab))
    model = task.build_model(nnx.Rngs(0))
    batch = _batch(clips, vocab, task.features)
    metrics, _ = _check_loss(task, model, task.init_aux(), batch)
    assert set(metrics) == {"l_text", "l_word", "l_contrast"}
    out = _jitted(task, model, "eval_fn")(task.init_aux(), batch)
    _check_hyp(out, len(vocab))
    assert out["hyp"].shape[1] == MAX_LABELS
    _check_passthrough(out, batch)
    summary = task.summarize_eval([jax.device_get(out)], vocab=vocab, source=clips)
    assert summary["num_sentences"] == 3  # the padding row is not scored
    assert 0.0 <= summary["wer"] <= 100.0 * (MAX_LABELS + 1)


def _pose2gloss_without_dropout():
    clips = make_clips(3, seed=1, rgb=False)
    vocab = _vocab(clips)
    cfg = train_config("pose2gloss", "tiny")
    cfg.data.max_label_len = MAX_LABELS
    _no_dropout(cfg.model)
    task = tasks.Pose2GlossTask(cfg, len(vocab))
    model = task.build_model(nnx.Rngs(0))
    batch = _batch(clips, vocab, task.features)
    return cfg, vocab, task, model, batch


def test_pose2gloss_optional_ctc_on_the_latent():
    """loss.ctc_weight adds CTC over frame-to-gloss cosine logits (no new parameters):
    the loss grows by weight x l_ctc and l_ctc reaches the encoder and both projections."""
    cfg, vocab, task, model, batch = _pose2gloss_without_dropout()
    (base, (metrics, _)), _ = _loss_and_grads(task, model, task.init_aux(), batch)
    assert "l_ctc" not in metrics
    cfg.loss.ctc_weight = 0.5
    metrics, _ = _check_loss(task, model, task.init_aux(), batch)
    (loss, (metrics, _)), grads = _loss_and_grads(task, model, task.init_aux(), batch)
    assert float(metrics["l_ctc"]) > 0
    np.testing.assert_allclose(float(loss), float(base) + 0.5 * float(metrics["l_ctc"]), rtol=1e-5)
    z = model.encode(batch["poses"], batch["presence"], batch["frame_mask"], deterministic=True)
    logits = model.frame_gloss_logits(z, cfg.loss.temperature)
    assert logits.shape == (*z.shape[:2], len(vocab))
    assert float(jnp.max(jnp.abs(logits))) <= 1.0 / cfg.loss.temperature + 1e-3  # cosines


def test_pose_noise_scales_with_each_dimension_and_spares_padding():
    """loss.pose_noise: noise of ``scale`` x each dimension's sd over real frames only
    (a dimension 100x wider gets 100x the noise; padded frames stay zero)."""
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(4, 50, 3)).astype(np.float32) * np.array([1.0, 100.0, 0.0])
    mask = np.ones((4, 50), bool)
    mask[:, 40:] = False
    poses[~mask] = 0.0
    noisy = np.asarray(tasks._pose_noise(jax.random.key(0), jnp.asarray(poses), mask, 0.5))
    delta = (noisy - poses)[mask]
    np.testing.assert_allclose(delta.std(0)[:2] / poses[mask].std(0)[:2], 0.5, rtol=0.15)
    assert np.all(delta[:, 2] == 0.0)  # a constant dimension gets no noise
    assert np.all(noisy[~mask] == 0.0)


def test_pose2gloss_pose_noise_changes_the_loss_only_when_set():
    cfg, _, task, model, batch = _pose2gloss_without_dropout()
    (base, _), _ = _loss_and_grads(task, model, task.init_aux(), batch)
    (again, _), _ = _loss_and_grads(task, model, task.init_aux(), batch)
    cfg.loss.pose_noise = 0.5
    (noisy, _), _ = _loss_and_grads(task, model, task.init_aux(), batch)
    assert float(base) == float(again)
    assert float(noisy) != float(base)


def test_pose2gloss_beam_search_eval():
    """Stage-1 dev decoding: Table 6 beam search by default; beam 1 without
    penalties is the greedy decoder."""
    clips = make_clips(3, seed=4, rgb=False)
    vocab = _vocab(clips)
    cfg = train_config("pose2gloss", "tiny")
    cfg.data.max_label_len = MAX_LABELS
    assert (cfg.decode.method, cfg.decode.beam) == ("attention", 5)
    assert (cfg.decode.length_penalty, cfg.decode.repetition_penalty) == (0.7, 2.5)
    batch = _batch(clips, vocab, ("poses",))
    hyps = {}
    for name, method, beam, lp, rp in (
        ("table6", "attention", 5, 0.7, 2.5),
        ("beam1", "attention", 1, 0.0, 1.0),
        ("greedy", "greedy", 1, 0.0, 1.0),
    ):
        cfg.decode.update(method=method, beam=beam, length_penalty=lp, repetition_penalty=rp)
        task = tasks.Pose2GlossTask(cfg, len(vocab))
        model = task.build_model(nnx.Rngs(0))
        out = jax.device_get(_jitted(task, model, "eval_fn")(task.init_aux(), batch))
        _check_hyp(out, len(vocab))
        assert out["hyp"].shape == (batch["labels"].shape[0], MAX_LABELS)
        hyps[name] = out["hyp"]
    assert (hyps["greedy"] >= 0).sum() >= 3  # the random decoder emits glosses, not just EOS
    np.testing.assert_array_equal(hyps["beam1"], hyps["greedy"])


# -- Video2Pose -------------------------------------------------------------------------


def test_video2pose_loss_and_eval():
    clips = make_clips(3, seed=2, rgb=True)  # 16 x 16 frames
    vocab = _vocab(clips)
    cfg = train_config("video2pose", "tiny")
    cfg.model.image_size, cfg.model.patch_size = 16, 8
    _no_dropout(cfg.model)
    _no_dropout(cfg.stage1_model)
    task = tasks.Video2PoseTask(cfg, len(vocab))
    model = task.build_model(nnx.Rngs(0))
    batch = _batch(clips, vocab, task.features)
    metrics, _ = _check_loss(task, model, task.init_aux(), batch)
    assert {"pose_mse", "latent_mse"} <= set(metrics)
    assert {f"mse_{name}" for name in schema.STREAM_NAMES} <= set(metrics)
    out = jax.device_get(_jitted(task, model, "eval_fn")(task.init_aux(), batch))
    assert np.isfinite(out["pose_mse"]) and out["pose_mse"] > 0
    assert np.isfinite(out["latent_mse"]) and out["latent_mse"] >= 0
    # summarize_eval averages the per-batch values.
    other = {"pose_mse": np.float32(1.0), "latent_mse": np.float32(3.0)}
    summary = task.summarize_eval([out, other], vocab=vocab)
    np.testing.assert_allclose(summary["pose_mse"], (out["pose_mse"] + 1.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(summary["latent_mse"], (out["latent_mse"] + 3.0) / 2, rtol=1e-6)


def test_colour_jitter_is_per_clip_and_seeded():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8, 3), dtype=np.uint8)
    a = np.asarray(colour_jitter(jnp.asarray(rgb), jax.random.key(1), 0.3))
    b = np.asarray(colour_jitter(jnp.asarray(rgb), jax.random.key(1), 0.3))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0
    assert not np.allclose(a, rgb / 255.0)
    # One affine colour map per clip: every frame of a clip is mapped alike.
    x = rgb.astype(np.float32) / 255.0
    for clip in range(4):
        for ch in range(3):
            src = x[clip][..., :].reshape(-1, 3)
            dst = a[clip][..., ch].reshape(-1)
            inside = (dst > 0) & (dst < 1)
            fits = [
                np.allclose(np.polyval(np.polyfit(src[inside, c], dst[inside], 1),
                                       src[inside, c]), dst[inside], atol=1e-4)
                for c in range(3)
            ]  # fmt: skip
            assert any(fits), (clip, ch)


def test_pose_statistics_use_present_frames_only():
    clips = make_clips(4, seed=5)
    for k, clip in enumerate(clips):  # a stream missing in some frames
        clip["presence"][:: k + 2, 1] = False
        clip["poses"]["mediapipe"][~clip["presence"][:, 1]] = 0.0
    mean, sd = tasks.pose_statistics(clips)
    assert mean.shape == sd.shape == (schema.POSE_DIM,)
    for k, (name, (start, end)) in enumerate(schema.stream_offsets().items()):
        frames = np.concatenate([c["poses"][name][c["presence"][:, k]] for c in clips])
        np.testing.assert_allclose(mean[start:end], frames.mean(0), rtol=1e-4, atol=1e-5)
        expect = frames.std(0)
        np.testing.assert_allclose(sd[start:end], np.where(expect > 1e-6, expect, 1.0),
                                   rtol=1e-3, atol=1e-5)  # fmt: skip
    cfg = train_config("video2pose", "tiny")
    task = tasks.Video2PoseTask(cfg, 9, pose_stats=(mean, sd))
    v2p = task.build_model(nnx.Rngs(0)).video2pose
    np.testing.assert_array_equal(np.asarray(v2p.pose_mean[...]), mean)
    np.testing.assert_array_equal(np.asarray(v2p.pose_scale[...]), sd)


def test_video2pose_stage1_params_are_loaded():
    clips = make_clips(1, seed=3, rgb=True)
    cfg = train_config("video2pose", "tiny")
    cfg.model.image_size, cfg.model.patch_size = 16, 8
    vocab = _vocab(clips)
    donor = tasks.Pose2GlossTask(train_config("pose2gloss", "tiny"), len(vocab))
    stage1 = nnx.state(donor.build_model(nnx.Rngs(123)), nnx.Param)
    task = tasks.Video2PoseTask(cfg, len(vocab), stage1_params=stage1)
    loaded = nnx.state(task.build_model(nnx.Rngs(0)).pose2gloss, nnx.Param)
    for a, b in zip(jax.tree.leaves(stage1), jax.tree.leaves(loaded), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- CSLR ---------------------------------------------------------------------------------


def _cslr_task(vocab, **pruning) -> tasks.CSLRTask:
    cfg = train_config("cslr", "tiny")
    cfg.model.latent_dim = 8
    cfg.pruning.update(pruning)
    return tasks.CSLRTask(cfg, len(vocab), class_counts=vocab.counts)


def test_cslr_loss_and_eval():
    rng = np.random.default_rng(4)
    records = [make_latent(rng, i, dim=8) for i in range(3)]
    vocab = _vocab(records)
    task = _cslr_task(vocab)
    _no_dropout(task.cfg.model)
    model = task.build_model(nnx.Rngs(0))
    batch = _batch(records, vocab, task.features)
    aux = task.init_aux()
    metrics, aux_stats = _check_loss(task, model, aux, batch)
    # The signx variant has every loss term of paper sections 4.1-4.2.
    assert {"l_ctc", "l_ce", "l_kd", "l_teacher", "l_lipschitz"} <= set(metrics)
    assert float(metrics["kept_dims"]) == 8
    act_var = np.asarray(aux_stats["act_var"])
    assert act_var.shape == (8,) and np.all(act_var >= 0) and np.all(np.isfinite(act_var))
    out = jax.device_get(_jitted(task, model, "eval_fn")(aux, batch))
    _check_hyp(out, len(vocab))
    _check_passthrough(out, batch)
    summary = task.summarize_eval([out], vocab=vocab, source=records)
    assert summary["num_sentences"] == 3
    assert np.isfinite(summary["wer"]) and summary["wer"] >= 0


def test_wer_summary_scores_only_valid_rows():
    """summarize_eval on hand-made outputs: exact hypothesis -> 0, empty -> 100.

    References are the records' annotation (``source[index]["gloss"]``), not
    the label rows, which here are deliberately wrong."""
    vocab = Vocabulary(["A", "B", "C"])
    a, b, c = (vocab.token_to_id(t) for t in "ABC")
    source = [{"gloss": "A B"}, {"gloss": "C"}]
    base = {
        "labels": np.full((3, 3), c, np.int32),  # not what is scored
        "label_lengths": np.array([3, 3, 3], np.int32),
        "valid": np.array([True, True, False]),  # row 3 is padding: never scored
        "index": np.array([0, 1, -1]),
    }
    task = tasks.CSLRTask(train_config("cslr", "tiny"), len(vocab))

    def summary(outputs):
        return task.summarize_eval(outputs, vocab=vocab, source=source)

    exact = dict(base, hyp=np.array([[a, b, -1], [c, -1, -1], [b, b, b]], np.int32))
    assert summary([exact]) == {"wer": 0.0, "num_sentences": 2.0}
    empty = dict(base, hyp=np.full((3, 3), -1, np.int32))
    assert summary([empty])["wer"] == 100.0
    # One substitution in three reference glosses, split over two batches.
    one_sub = dict(base, hyp=np.array([[a, c, -1], [c, -1, -1], [a, a, a]], np.int32))
    got = summary([one_sub, exact])
    assert got["num_sentences"] == 4.0
    np.testing.assert_allclose(got["wer"], 100.0 / 6)


# -- adaptive pruning (update_aux) --------------------------------------------------


def _aux(mask, act_var):
    return {
        "prune_mask": jnp.asarray(mask, jnp.float32),
        "act_var": jnp.asarray(act_var, jnp.float32),
    }


@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_update_aux_prunes_lowest_variance_dims_at_step_k(ema):
    vocab = Vocabulary(["A"])
    task = _cslr_task(vocab, every=3, start=3, keep_dims=5, ema=ema, enabled=True)
    old_var = np.array([0.0, 8.0, 0.0, 8.0, 8.0, 0.0, 0.0, 8.0])
    stats = np.array([5.0, 1.0, 2.0, 7.0, 0.5, 3.0, 9.0, 4.0])
    running = ema * old_var + (1 - ema) * stats
    want_mask = np.zeros(8)
    want_mask[np.argsort(running)[-5:]] = 1.0  # keep the 5 highest running variances
    aux = _aux(np.ones(8), old_var)
    for step in range(7):
        new = jax.device_get(task.update_aux(aux, {"act_var": jnp.asarray(stats)}, Step.at(step)))
        np.testing.assert_allclose(new["act_var"], running, rtol=1e-6)
        if step in (2, 5):  # (step + 1) % K == 0 and step + 1 >= start
            np.testing.assert_array_equal(new["prune_mask"], want_mask)
            assert new["prune_mask"].sum() == 5
        else:  # not a pruning step: the mask is carried over unchanged
            np.testing.assert_array_equal(new["prune_mask"], np.ones(8))
    # The pruned dims are exactly the three with the lowest running variance.
    pruned = set(np.flatnonzero(want_mask == 0))
    assert pruned == set(np.argsort(running)[:3])


def test_update_aux_waits_for_start_and_can_be_disabled():
    vocab = Vocabulary(["A"])
    stats = {"act_var": jnp.arange(8.0)}
    task = _cslr_task(vocab, every=2, start=6, keep_dims=4, ema=0.0, enabled=True)
    aux = _aux(np.ones(8), np.zeros(8))
    masks = [np.asarray(task.update_aux(aux, stats, Step.at(s))["prune_mask"]) for s in range(8)]
    pruned_at = [s for s, m in enumerate(masks) if m.sum() == 4]
    assert pruned_at == [5, 7]  # steps 1 and 3 are K-boundaries but before start
    np.testing.assert_array_equal(masks[5], [0, 0, 0, 0, 1, 1, 1, 1])
    off = _cslr_task(vocab, every=1, start=0, keep_dims=4, ema=0.0, enabled=False)
    kept = off.update_aux(aux, stats, Step.at(0))
    assert kept is aux


def test_update_aux_prunes_once_per_update_under_accumulation():
    """With k micro-batches per update, every micro-batch feeds the running
    variance but the mask changes only on the micro-step that completes a
    K-th update (Step.applies), not on the other k - 1 of it."""
    vocab = Vocabulary(["A"])
    task = _cslr_task(vocab, every=2, start=2, keep_dims=4, ema=0.5, enabled=True)
    aux = _aux(np.ones(8), np.zeros(8))
    stats = {"act_var": jnp.arange(8.0)}
    k, changed_at = 3, []
    for micro in range(4 * k):  # updates 0..3, 3 micro-steps each
        at = Step.at(micro // k, micro, applies=micro % k == k - 1)
        new = task.update_aux(aux, stats, at)
        if not np.array_equal(new["prune_mask"], aux["prune_mask"]):
            changed_at.append(micro)
        aux = new
    assert changed_at == [5]  # the last micro-step of update 1 (the 2nd update)
    np.testing.assert_array_equal(aux["prune_mask"], [0, 0, 0, 0, 1, 1, 1, 1])


def test_pruning_config_is_consistent():
    cfg = train_config("cslr", "tiny")
    assert isinstance(cfg.pruning, ml_collections.ConfigDict)
    assert 0 < cfg.pruning.keep_dims < cfg.model.latent_dim
