"""signx_jax.train.losses against values computed by hand (plain math/numpy)."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from signx_jax import schema
from signx_jax.train import losses


def _softmax(x):
    e = np.exp(np.asarray(x, np.float64) - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# --- L_text ------------------------------------------------------------------


def test_label_smoothed_ce_hand_value():
    logits = jnp.array([[[1.0, 0.0], [0.0, 2.0]]])
    targets = jnp.array([[0, 1]])
    mask = jnp.array([[True, True]])
    # V = 2, eps = 0.1: gold gets 0.95, the other class 0.05.
    lse0 = math.log(math.exp(1) + 1)
    lse1 = math.log(1 + math.exp(2))
    tok0 = -(0.95 * (1 - lse0) + 0.05 * (0 - lse0))
    tok1 = -(0.95 * (2 - lse1) + 0.05 * (0 - lse1))
    got = losses.label_smoothed_ce(logits, targets, mask, smoothing=0.1)
    np.testing.assert_allclose(got, (tok0 + tok1) / 2, rtol=1e-6)
    # smoothing 0 is plain cross-entropy.
    got0 = losses.label_smoothed_ce(logits, targets, mask, smoothing=0.0)
    np.testing.assert_allclose(got0, (lse0 - 1 + lse1 - 2) / 2, rtol=1e-6)


def test_label_smoothed_ce_ignores_masked_tokens():
    mask = jnp.array([[True, False]])
    a = losses.label_smoothed_ce(jnp.array([[[1.0, 0.0], [0.0, 2.0]]]), jnp.array([[0, 1]]), mask)
    b = losses.label_smoothed_ce(jnp.array([[[1.0, 0.0], [9.0, -5.0]]]), jnp.array([[0, 0]]), mask)
    np.testing.assert_allclose(a, b, rtol=1e-7)
    lse0 = math.log(math.exp(1) + 1)
    np.testing.assert_allclose(a, -(0.95 * (1 - lse0) + 0.05 * -lse0), rtol=1e-6)
    assert (
        losses.label_smoothed_ce(
            jnp.zeros((1, 2, 2)), jnp.zeros((1, 2), int), jnp.zeros((1, 2), bool)
        )
        == 0
    )


# --- L_word ------------------------------------------------------------------


def test_word_matching_hand_value():
    table = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    # token 0: p = (1/4, 3/4) -> e_pred = (0.25, 0.75), gold 1 -> e_true = (0, 1).
    # token 1: logits equal -> e_pred = (0.5, 0.5), gold 0 -> cos = 1/sqrt(2).
    logits = jnp.array([[[0.0, math.log(3.0)], [0.0, 0.0]]])
    targets = jnp.array([[1, 0]])
    cos0 = 0.75 / math.sqrt(0.25**2 + 0.75**2)
    cos1 = 0.5 / math.sqrt(0.5)
    expected = ((1 - cos0) + (1 - cos1)) / 2
    got = losses.word_matching_loss(logits, targets, jnp.ones((1, 2), bool), table)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    only_first = losses.word_matching_loss(logits, targets, jnp.array([[True, False]]), table)
    np.testing.assert_allclose(only_first, 1 - cos0, rtol=1e-6)


# --- L_contrast --------------------------------------------------------------


def _info_nce_numpy(zv, zt, tau):
    zv = zv / np.linalg.norm(zv, axis=1, keepdims=True)
    zt = zt / np.linalg.norm(zt, axis=1, keepdims=True)
    s = zv @ zt.T / tau
    n = len(s)
    row = [-(s[i, i] - np.log(np.exp(s[i]).sum())) for i in range(n)]
    col = [-(s[i, i] - np.log(np.exp(s[:, i]).sum())) for i in range(n)]
    return 0.5 * (np.mean(row) + np.mean(col))


def test_info_nce_hand_value_two_clips():
    zv = np.array([[1.0, 0.0], [0.0, 2.0]])
    zt = np.array([[1.0, 0.0], [1.0, 1.0]])
    tau = 0.5
    # sim/tau = [[2, sqrt2], [0, sqrt2]]
    r2 = math.sqrt(2)
    row0 = -(2 - math.log(math.exp(2) + math.exp(r2)))
    row1 = -(r2 - math.log(1 + math.exp(r2)))
    col0 = -(2 - math.log(math.exp(2) + 1))
    col1 = -(r2 - math.log(2 * math.exp(r2)))
    expected = 0.5 * ((row0 + row1) / 2 + (col0 + col1) / 2)
    got = losses.info_nce(jnp.array(zv), jnp.array(zt), tau)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got, _info_nce_numpy(zv, zt, tau), rtol=1e-6)


def test_info_nce_invalid_rows_are_neither_positives_nor_negatives():
    rng = np.random.default_rng(0)
    zv, zt = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    valid = jnp.array([True, False, True])
    got = losses.info_nce(jnp.array(zv), jnp.array(zt), 0.1, valid)
    keep = [0, 2]
    np.testing.assert_allclose(got, _info_nce_numpy(zv[keep], zt[keep], 0.1), rtol=1e-5)
    zv[1], zt[1] = 100.0, -3.0  # garbage in the invalid clip changes nothing
    np.testing.assert_allclose(losses.info_nce(jnp.array(zv), jnp.array(zt), 0.1, valid), got)


# --- scheduled sampling and decoder targets ------------------------------------


def test_teacher_forcing_ratio_decays_linearly():
    got = [float(losses.scheduled_teacher_forcing_ratio(s, 100)) for s in (0, 25, 100, 500)]
    np.testing.assert_allclose(got, [0.5, 0.375, 0.0, 0.0])
    np.testing.assert_allclose(losses.scheduled_teacher_forcing_ratio(5, 10, 1.0, 0.5), 0.75)


def test_mix_decoder_inputs_extremes_and_rate():
    targets_in = jnp.array([[1, 10, 11, 12, 0]])  # BOS y0 y1 y2 <pad>
    predicted = jnp.array([[20, 21, 22, 23, 24]])
    key = jax.random.key(0)
    np.testing.assert_array_equal(
        losses.mix_decoder_inputs(key, targets_in, predicted, 1.0), targets_in
    )
    # ratio 0: previous predictions everywhere except BOS and padding.
    np.testing.assert_array_equal(
        losses.mix_decoder_inputs(key, targets_in, predicted, 0.0), [[1, 20, 21, 22, 0]]
    )
    gold = jnp.full((4, 500), 7).at[:, 0].set(schema.BOS_ID)
    pred = jnp.full((4, 500), 9)
    mixed = jax.jit(losses.mix_decoder_inputs)(key, gold, pred, jnp.float32(0.3))
    assert np.all(mixed[:, 0] == schema.BOS_ID)
    assert set(np.unique(mixed[:, 1:])) <= {7, 9}
    assert abs(float(np.mean(mixed[:, 1:] == 7)) - 0.3) < 0.03


def test_scheduled_decoder_inputs_feed_the_previous_guess_like_inference():
    """Ratio 0: position j gets the first pass's argmax at j - 1 (its guess for
    gold token j - 1, the token inference feeds there), position 0 BOS, padding
    pad. Shifting the guesses before mixing would feed position j the guess
    for j - 2 and put BOS at position 1 as well."""
    labels = jnp.array([[5, 6, 7], [8, 0, 0]])
    targets, _ = losses.append_eos(labels, jnp.array([3, 1]))  # [[5 6 7 EOS] [8 EOS . .]]
    targets = jnp.pad(targets, ((0, 0), (0, 1)))  # one more pad column: [B, 5]
    tokens_in = losses.shift_right(targets)  # [[BOS 5 6 7 .] [BOS 8 . . .]]
    guesses = np.array([[9, 10, 11, 4, 3], [6, 2, 9, 9, 9]])  # argmax per position
    rng = np.random.default_rng(0)
    logits = 4.0 * jax.nn.one_hot(guesses, 12) + rng.uniform(0, 1, (2, 5, 12))
    got = losses.scheduled_decoder_inputs(jax.random.key(0), tokens_in, logits, 0.0)
    bos, pad = schema.BOS_ID, schema.PAD_ID
    np.testing.assert_array_equal(got, [[bos, 9, 10, 11, pad], [bos, 6, pad, pad, pad]])
    # Ratio 1 is plain teacher forcing.
    gold = losses.scheduled_decoder_inputs(jax.random.key(0), tokens_in, logits, 1.0)
    np.testing.assert_array_equal(gold, tokens_in)


def test_shift_right_and_append_eos():
    labels = jnp.array([[5, 6, 7], [8, 0, 0]])
    targets, mask = losses.append_eos(labels, jnp.array([3, 1]))
    np.testing.assert_array_equal(targets, [[5, 6, 7, 2], [8, 2, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1], [1, 1, 0, 0]])
    np.testing.assert_array_equal(losses.shift_right(targets), [[1, 5, 6, 7], [1, 8, 0, 0]])


# --- Stage 2 -----------------------------------------------------------------


def test_masked_mse_per_stream():
    off = schema.stream_offsets()
    rng = np.random.default_rng(1)
    target = rng.normal(size=(1, 2, schema.POSE_DIM)).astype(np.float32)
    pred = target.copy()
    d0, d1 = off["dwpose"], off["mediapipe"]
    pred[0, 0, d0[0] : d0[1]] += 1.0  # dwpose frame 0: error 1 per dim
    pred[0, 1, d0[0] : d0[1]] += 10.0  # dwpose frame 1: absent, ignored
    pred[0, :, d1[0] : d1[0] + 129] += 2.0  # half of mediapipe's 258 dims, both frames
    sm = off["smplerx"]
    pred[0, :, sm[0] : sm[1]] += 5.0  # smplerx absent everywhere
    presence = np.zeros((1, 2, 5), bool)
    presence[0, 0, 0] = True
    presence[0, :, 1] = True
    presence[0, :, 3] = True  # primedepth present, predicted exactly
    total, per = losses.masked_mse_per_stream(
        jnp.array(pred), jnp.array(target), jnp.array(presence), jnp.ones((1, 2), bool)
    )
    np.testing.assert_allclose(per["dwpose"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(per["mediapipe"], 4.0 * 129 / 258, rtol=1e-6)
    for name in ("smplerx", "primedepth", "sapiens"):
        np.testing.assert_allclose(per[name], 0.0, atol=1e-7)
    np.testing.assert_allclose(total, 3.0, rtol=1e-6)
    # frame 1 masked out: mediapipe still 2.0 (frame 0 only), dwpose 1.
    total_m, _ = losses.masked_mse_per_stream(
        jnp.array(pred), jnp.array(target), jnp.array(presence), jnp.array([[True, False]])
    )
    np.testing.assert_allclose(total_m, 3.0, rtol=1e-6)


# --- CTC ---------------------------------------------------------------------


def _collapse(path, blank):
    out, prev = [], None
    for s in path:
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return out


def _brute_force_ctc(logits, labels, blank):
    probs = _softmax(logits)
    total = 0.0
    for path in itertools.product(range(probs.shape[1]), repeat=len(probs)):
        if _collapse(path, blank) == list(labels):
            total += np.prod([probs[t, s] for t, s in enumerate(path)])
    return -math.log(total)


def test_ctc_equals_brute_force_sum_over_alignments():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 3, 3)).astype(np.float32)  # B=3, T=3, V=3
    blank = 2
    labels = np.array([[0, 1], [1, 0], [1, 1]])
    label_mask = np.array([[True, True], [True, False], [True, True]])
    logit_mask = np.array([[True] * 3, [True, True, False], [True] * 3])
    got = losses.ctc(
        jnp.array(logits),
        jnp.array(logit_mask),
        jnp.array(labels),
        jnp.array(label_mask),
        blank_id=blank,
    )
    expected = [
        _brute_force_ctc(logits[0], [0, 1], blank),
        _brute_force_ctc(logits[1, :2], [1], blank),
        _brute_force_ctc(logits[2], [1, 1], blank),  # 1 blank 1 is the only path
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_ctc_infeasible_is_zeroed_and_mean_normalises_by_length():
    logits = jnp.zeros((1, 2, 5))
    labels, label_mask = jnp.array([[1, 1]]), jnp.ones((1, 2), bool)  # needs 3 frames
    kwargs = dict(logit_mask=jnp.ones((1, 2), bool), labels=labels, label_mask=label_mask)
    assert float(losses.ctc(logits, **kwargs, zero_infeasible=False)[0]) > 1e3
    assert float(losses.ctc(logits, **kwargs)[0]) == 0.0
    per = jnp.array([2.0, 6.0, 100.0])
    lab = jnp.array([[1, 0, 0], [1, 1, 1], [1, 1, 0]], bool)
    valid = jnp.array([True, True, False])
    np.testing.assert_allclose(losses.ctc_mean(per, lab, True, valid), (2 / 1 + 6 / 3) / 2)
    np.testing.assert_allclose(losses.ctc_mean(per, lab, False, valid), 4.0)


# --- distillation --------------------------------------------------------------


def test_inverse_frequency_weights():
    w = losses.inverse_frequency_weights(jnp.array([0, 1, 3]))
    np.testing.assert_allclose(w, [1.0, 1.5, 0.5], rtol=1e-6)  # raw 1, 1/3, mean 2/3
    w = losses.inverse_frequency_weights(jnp.array([0, 1, 4, 0]), power=0.5)
    np.testing.assert_allclose(w, [1.0, 4 / 3, 2 / 3, 1.0], rtol=1e-6)  # raw 1, 1/2


def test_kd_loss_hand_value_weights_and_stop_gradient():
    teacher = jnp.array([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]]])
    student = jnp.zeros((1, 3, 2))
    kl1 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    weights = jnp.array([1.0, 3.0])
    mask = jnp.array([[True, True, False]])
    # frame 0 gloss 0 (w 1, KL 0); frame 1 gloss 1 (w 3, KL kl1); frame 2 masked.
    got = losses.kd_loss(student, teacher, mask, jnp.array([[0, 1, 1]]), weights)
    np.testing.assert_allclose(got, 3 * kl1 / 4, rtol=1e-6)
    # unknown gloss -> weight 1.
    got = losses.kd_loss(student, teacher, mask, jnp.array([[0, -1, 0]]), weights)
    np.testing.assert_allclose(got, kl1 / 2, rtol=1e-6)
    # temperature 2: p = softmax(teacher / 2), loss scaled by 4.
    p = _softmax(np.array([math.log(3.0) / 2, 0.0]))
    kl1_t2 = float(np.sum(p * np.log(p / 0.5)))
    got = losses.kd_loss(student, teacher, mask, jnp.array([[0, 1, 1]]), weights, 2.0)
    np.testing.assert_allclose(got, 4 * 3 * kl1_t2 / 4, rtol=1e-5)
    g_teacher = jax.grad(
        lambda t: losses.kd_loss(student + 0.3, t, mask, -jnp.ones((1, 3), int), weights)
    )(teacher)
    np.testing.assert_array_equal(g_teacher, 0.0)


# --- Lipschitz regulariser -------------------------------------------------------


def test_lipschitz_penalty_hand_value_and_finite_gradient():
    enc = jnp.array([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [50.0, 50.0]]])
    # pair norms 5, 0, ~67; bound 1 -> squared hinges 16, 0, (big).
    mask = jnp.array([[True, True, True, False]])
    np.testing.assert_allclose(losses.lipschitz_penalty(enc, mask, 1.0), 8.0, rtol=1e-6)
    np.testing.assert_allclose(
        losses.lipschitz_penalty(enc, jnp.array([[True, True, False, False]]), 1.0), 16.0
    )
    grad = jax.grad(lambda e: losses.lipschitz_penalty(e, mask, 1.0))(enc)
    assert np.all(np.isfinite(grad))
    # d/de1 of 16/2 with diff (3, 4), ||.|| = 5: (5 - 1) * (3, 4)/5 = (2.4, 3.2).
    np.testing.assert_allclose(grad[0, 1], [2.4, 3.2], rtol=1e-5)
    assert losses.lipschitz_penalty(enc, jnp.zeros((1, 4), bool), 1.0) == 0.0


@pytest.mark.parametrize("bound", [0.5, 10.0])
def test_lipschitz_penalty_zero_inside_ball(bound):
    enc = jnp.array([[[0.0], [0.4], [0.8]]])
    assert float(losses.lipschitz_penalty(enc, jnp.ones((1, 3), bool), bound)) == 0.0
