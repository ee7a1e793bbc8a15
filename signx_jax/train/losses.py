"""Training losses of the three SignX stages, as pure masked functions.

Stage 1 (paper appendix B.1, eqs. 10-13): ``label_smoothed_ce`` (L_text),
``word_matching_loss`` (L_word), ``info_nce`` (L_contrast), plus the scheduled
sampling helpers (teacher forcing decays 0.5 -> 0, Table 6).
Stage 2 (paper appendix B.2, eq. 14): ``masked_mse_per_stream``.
Stage 3 (paper sections 4.1-4.2, Algorithm 2): ``ctc``, ``kd_loss`` (gloss-aware
latent distillation), ``lipschitz_penalty`` and the same cross-entropy.

Conventions: masks are boolean (True = valid); every scalar loss is a mean over
its valid entries and is 0 when there are none, so an all-padding batch (the
tail of an epoch on some host) never produces NaN. Logits are upcast to
float32 because the softmax of bf16 logits is too coarse for these losses.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from signx_jax import schema
from signx_jax.models.layers import split_streams

Array = jax.Array


def _masked_mean(values: Array, mask: Array) -> Array:
    """Mean of ``values`` where ``mask``; 0 when nothing is valid. Same shapes."""
    mask = mask.astype(bool)
    # where (not multiply) so that inf/NaN in padded entries cannot leak in.
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask), 1)


def _l2_normalize(x: Array, eps: float = 1e-12) -> Array:
    """x / ||x|| along the last axis, with a gradient that is finite at x = 0."""
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps))


# ----------------------------------------------------------------------------
# Stage 1: L_text, L_word, L_contrast.
# ----------------------------------------------------------------------------


def label_smoothed_ce(logits: Array, targets: Array, mask: Array, smoothing: float = 0.1) -> Array:
    """Token cross-entropy with label smoothing (eq. 10, epsilon 0.1).

    logits: [B, L, V]; targets: int [B, L]; mask: bool [B, L]. The smoothed
    target puts 1 - smoothing + smoothing / V on the gold token and
    smoothing / V on every other token (optax.smooth_labels).
    Returns the mean over valid tokens (scalar).
    """
    logits = logits.astype(jnp.float32)
    labels = jax.nn.one_hot(targets, logits.shape[-1], dtype=jnp.float32)
    labels = optax.smooth_labels(labels, smoothing)
    return _masked_mean(optax.softmax_cross_entropy(logits, labels), mask)


def word_matching_loss(logits: Array, targets: Array, mask: Array, embedding: Array) -> Array:
    """L_word (eq. 11): 1 - cos(e_pred, e_true) averaged over valid tokens.

    logits: [B, L, V]; targets: int [B, L]; mask: bool [B, L];
    embedding: [V, E], the decoder's token embedding table.
    e_pred = softmax(logits) @ embedding is the softmax-expected embedding
    (differentiable, unlike the argmax token's); e_true = embedding[targets].
    Whether the table itself gets gradients is the caller's choice
    (pass ``jax.lax.stop_gradient(table)`` to freeze it here).
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    table = embedding.astype(jnp.float32)
    e_pred = probs @ table  # [B, L, E]
    e_true = jnp.take(table, targets, axis=0)  # [B, L, E]
    cos = optax.losses.cosine_similarity(e_pred, e_true, epsilon=1e-12)
    return _masked_mean(1.0 - cos, mask)


def info_nce(zv: Array, zt: Array, temperature: float, valid: Array | None = None) -> Array:
    """Symmetric in-batch InfoNCE between pose and gloss embeddings (eq. 12).

    zv: [B, E] pooled pose latents; zt: [B, E] pooled gloss embeddings of the
    same clips; valid: bool [B] or None (all valid).
    S = normalize(zv) @ normalize(zt)^T / temperature, [B, B]; the loss is
    (CE(S rows, diagonal) + CE(S columns, diagonal)) / 2, each averaged over
    valid rows. Invalid clips are neither positives (their rows are dropped)
    nor negatives (their columns are excluded from the softmax).
    """
    batch = zv.shape[0]
    if valid is None:
        valid = jnp.ones((batch,), bool)
    valid = valid.astype(bool)
    sim = _l2_normalize(zv.astype(jnp.float32)) @ _l2_normalize(zt.astype(jnp.float32)).T
    sim = sim / temperature
    diag = jnp.arange(batch)
    negatives = jnp.broadcast_to(valid[None, :], (batch, batch))
    v2t = optax.softmax_cross_entropy_with_integer_labels(sim, diag, where=negatives)
    t2v = optax.softmax_cross_entropy_with_integer_labels(sim.T, diag, where=negatives)
    return 0.5 * (_masked_mean(v2t, valid) + _masked_mean(t2v, valid))


# ----------------------------------------------------------------------------
# Scheduled sampling (teacher forcing ratio 0.5 -> 0) and decoder targets.
# ----------------------------------------------------------------------------


def scheduled_teacher_forcing_ratio(
    step: int | Array, total_steps: int, start: float = 0.5, end: float = 0.0
) -> Array:
    """Teacher forcing probability, linear from ``start`` at step 0 to ``end``
    at ``total_steps`` and constant after (Table 6: 0.5 -> 0)."""
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / max(total_steps, 1), 0.0, 1.0)
    return start + (end - start) * frac


def mix_decoder_inputs(
    rng: Array, targets_in: Array, predicted: Array, ratio: float | Array, pad: int = schema.PAD_ID
) -> Array:
    """Scheduled sampling: mix gold decoder inputs with the model's predictions.

    targets_in: int [B, L], gold decoder inputs (``shift_right(targets)``, so
      position 0 is BOS and position j holds gold token j - 1).
    predicted: int [B, L], the model's argmax from a first, fully teacher-forced
      pass, aligned with the *targets* (predicted[:, j] is its guess for
      target j, i.e. for what targets_in[:, j + 1] holds).
    ratio: teacher forcing probability in [0, 1].

    Returns int [B, L]: position 0 is always gold (BOS); each position j >= 1
    independently keeps targets_in[:, j] with probability ``ratio`` and
    otherwise takes predicted[:, j - 1], the model's previous prediction.
    Padding positions stay ``pad`` so the decoder's input mask is unchanged.
    ratio = 1 is plain teacher forcing; ratio = 0 feeds only predictions.
    """
    keep_gold = jax.random.bernoulli(rng, ratio, targets_in.shape)
    keep_gold = keep_gold.at[:, 0].set(True)
    keep_gold = keep_gold | (targets_in == pad)
    prev_pred = jnp.concatenate([targets_in[:, :1], predicted[:, :-1]], axis=1)
    return jnp.where(keep_gold, targets_in, prev_pred.astype(targets_in.dtype))


def scheduled_decoder_inputs(
    rng: Array, tokens_in: Array, first_logits: Array, ratio: float | Array
) -> Array:
    """Stage-1 scheduled sampling (Table 6): second-pass decoder inputs from a
    first, teacher-forced pass.

    tokens_in: int [B, L], ``shift_right(targets)``; first_logits: [B, L, V],
    the first pass on ``tokens_in``, so first_logits[:, j] predicts target j.
    Returns int [B, L] as ``mix_decoder_inputs``: BOS, then per position j
    gold token j - 1 or the first pass's guess for it, as inference feeds it.
    The argmax goes in unshifted: ``mix_decoder_inputs`` does the one shift.
    """
    predicted = jnp.argmax(jax.lax.stop_gradient(first_logits), -1)
    return mix_decoder_inputs(rng, tokens_in, predicted, ratio)


def shift_right(targets: Array, bos: int = schema.BOS_ID, pad: int = schema.PAD_ID) -> Array:
    """Decoder inputs for teacher forcing: [BOS, y_0, ..., y_{L-2}].

    targets: int [B, L] (glosses, then EOS, then pad). Positions where the
    target is ``pad`` get ``pad`` as input too (not the shifted EOS), so the
    input padding mask equals the target padding mask.
    """
    bos_col = jnp.full((targets.shape[0], 1), bos, targets.dtype)
    shifted = jnp.concatenate([bos_col, targets[:, :-1]], axis=1)
    return jnp.where(targets == pad, jnp.asarray(pad, targets.dtype), shifted)


def append_eos(
    labels: Array, lengths: Array, eos: int = schema.EOS_ID, pad: int = schema.PAD_ID
) -> tuple[Array, Array]:
    """Decoder targets with EOS: (targets int [B, L + 1], mask bool [B, L + 1]).

    labels: int [B, L], the first lengths[b] entries valid; lengths: int [B].
    targets[b] = labels[b, :len] + [eos] + pad...; mask covers the glosses and
    the EOS (the model must learn to stop). One column is added so that a
    full-length label still has room for its EOS.
    """
    batch, max_len = labels.shape
    pos = jnp.arange(max_len + 1)[None, :]
    lengths = jnp.asarray(lengths)[:, None]
    padded = jnp.concatenate([labels, jnp.full((batch, 1), pad, labels.dtype)], axis=1)
    targets = jnp.where(pos < lengths, padded, jnp.asarray(pad, labels.dtype))
    targets = jnp.where(pos == lengths, jnp.asarray(eos, labels.dtype), targets)
    return targets, pos <= lengths


# ----------------------------------------------------------------------------
# Stage 2: eq. 14.
# ----------------------------------------------------------------------------


def masked_mse_per_stream(
    pred: Array, target: Array, presence: Array, frame_mask: Array
) -> tuple[Array, dict[str, Array]]:
    """L_video2pose = sum_i MSE_i over the five pose streams (eq. 14).

    pred, target: [B, T, 1959] in schema.STREAMS order; presence: bool
    [B, T, 5]; frame_mask: bool [B, T].
    MSE_i = mean over the present (frame, stream i) entries of the mean over
    stream i's dims of (pred - target)^2. Per-dimension means keep the small
    SMPL-X stream (165 dims) from being drowned by the 576-d maps; a stream
    absent from the whole batch contributes 0.
    Returns (total scalar, {stream name: MSE_i scalar}).
    """
    err = jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32))
    per_stream = {}
    for i, (name, stream_err) in enumerate(
        zip(schema.STREAM_NAMES, split_streams(err), strict=True)
    ):
        frame_err = jnp.mean(stream_err, axis=-1)  # [B, T]
        present = presence[..., i].astype(bool) & frame_mask.astype(bool)
        per_stream[name] = _masked_mean(frame_err, present)
    total = sum(per_stream.values())
    return total, per_stream


# ----------------------------------------------------------------------------
# Stage 3: CTC, gloss-aware distillation, Lipschitz regulariser.
# ----------------------------------------------------------------------------


def ctc(
    logits: Array,
    logit_mask: Array,
    labels: Array,
    label_mask: Array,
    blank_id: int = schema.BLANK_ID,
    zero_infeasible: bool = True,
) -> Array:
    """Per-example CTC negative log-likelihood, float32 [B] (optax.ctc_loss).

    logits: [B, T, V] (unnormalised); logit_mask: bool [B, T], True = valid
    frame; labels: int [B, L]; label_mask: bool [B, L]; blank_id: the gloss
    vocabulary's blank (schema.BLANK_ID = 4).
    With ``zero_infeasible`` an example whose valid frames cannot hold its
    labels (T_valid < L + number of adjacent repeats) gets loss 0 (and no
    gradient) instead of optax's ~1e5 sentinel, which would swamp the batch
    (PyTorch's zero_infinity). Reduce with ``ctc_mean``.
    """
    logit_mask = logit_mask.astype(bool)
    label_mask = label_mask.astype(bool)
    loss = optax.ctc_loss(
        logits.astype(jnp.float32),
        1.0 - logit_mask.astype(jnp.float32),
        labels,
        1.0 - label_mask.astype(jnp.float32),
        blank_id=blank_id,
    )
    if zero_infeasible:
        repeats = (labels[:, 1:] == labels[:, :-1]) & label_mask[:, 1:] & label_mask[:, :-1]
        needed = jnp.sum(label_mask, axis=1) + jnp.sum(repeats, axis=1)
        loss = jnp.where(jnp.sum(logit_mask, axis=1) >= needed, loss, 0.0)
    return loss


def ctc_mean(
    per_example: Array,
    label_mask: Array,
    normalize_by_length: bool = True,
    valid: Array | None = None,
) -> Array:
    """Batch mean of ``ctc`` output: per_example [B], label_mask bool [B, L].

    With ``normalize_by_length`` each loss is first divided by its label length
    (at least 1), so long sentences do not dominate the gradient. valid: bool
    [B] or None, which examples count (padding examples of a partial batch).
    """
    per_example = per_example.astype(jnp.float32)
    if normalize_by_length:
        per_example = per_example / jnp.maximum(jnp.sum(label_mask, axis=1), 1)
    if valid is None:
        valid = jnp.ones(per_example.shape, bool)
    return _masked_mean(per_example, valid)


def inverse_frequency_weights(counts: Array, power: float = 1.0, eps: float = 1e-6) -> Array:
    """Per-gloss weights counts^-power, normalised to mean 1 over seen glosses.

    counts: [V] training frequency of each gloss id. Unseen ids (count 0,
    e.g. the special tokens) get the neutral weight 1. power = 1 is plain
    inverse frequency, 0.5 a softer version. Returns float32 [V].
    """
    counts = jnp.asarray(counts, jnp.float32)
    seen = counts > 0
    raw = jnp.where(seen, jnp.maximum(counts, eps) ** (-power), 0.0)
    mean_seen = jnp.sum(raw) / jnp.maximum(jnp.sum(seen), 1)
    return jnp.where(seen, raw / mean_seen, 1.0)


def kd_loss(
    student_logits: Array,
    teacher_logits: Array,
    frame_mask: Array,
    frame_gloss: Array,
    class_weights: Array,
    temperature: float = 1.0,
) -> Array:
    """Gloss-aware latent distillation: weighted KL(teacher || student) per frame.

    student_logits, teacher_logits: [B, T, V] frame logits; frame_mask: bool
    [B, T]; frame_gloss: int [B, T], the gloss id GlossAlign assigned to each
    frame (-1 unknown); class_weights: [V] (``inverse_frequency_weights``).

    KL_t = sum_v p_t(v) (log p_t(v) - log q_t(v)), with p = softmax(teacher /
    temperature) under stop-gradient and q = softmax(student / temperature).
    w_t = class_weights[frame_gloss_t], or 1 when the gloss is unknown.
    Loss = temperature^2 * sum_t w_t KL_t / sum_t w_t over valid frames (a
    weighted mean as in a class-weighted cross-entropy; temperature^2 keeps the
    gradient scale independent of the temperature, Hinton et al.).
    """
    teacher = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
    log_p = jax.nn.log_softmax(teacher / temperature, axis=-1)
    log_q = jax.nn.log_softmax(student_logits.astype(jnp.float32) / temperature, axis=-1)
    kl = optax.losses.kl_divergence_with_log_targets(log_q, log_p)  # [B, T]
    known = frame_gloss >= 0
    w = jnp.where(known, jnp.take(class_weights, jnp.maximum(frame_gloss, 0)), 1.0)
    valid = frame_mask.astype(bool)
    w = jnp.where(valid, w.astype(jnp.float32), 0.0)
    weighted = jnp.sum(jnp.where(valid, w * kl, 0.0)) / jnp.maximum(jnp.sum(w), 1e-12)
    return temperature**2 * weighted


def lipschitz_penalty(enc: Array, enc_mask: Array, bound: float) -> Array:
    """Latent-space Lipschitz regulariser on successive encoder states.

    enc: [B, T, W] encoder outputs; enc_mask: bool [B, T]; bound: the radius
    of the Lipschitz ball. Exactly:
        mean over pairs (b, t) with enc_mask[b, t] and enc_mask[b, t + 1] of
        relu(||enc[b, t + 1] - enc[b, t]||_2 - bound)^2,
    and 0 when no such pair exists. Squared hinge: no cost inside the ball,
    a smooth (zero-gradient at the boundary) push back outside it.
    """
    enc = enc.astype(jnp.float32)
    diff = enc[:, 1:] - enc[:, :-1]  # [B, T-1, W]
    # Clamp before sqrt: ||0|| has an infinite derivative (NaN after the hinge).
    dist = jnp.sqrt(jnp.maximum(jnp.sum(diff * diff, axis=-1), 1e-12))
    pairs = enc_mask[:, 1:].astype(bool) & enc_mask[:, :-1].astype(bool)
    return _masked_mean(jnp.square(jax.nn.relu(dist - bound)), pairs)
