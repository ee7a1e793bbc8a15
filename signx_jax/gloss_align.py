"""GlossAlign (paper section 4.1, Algorithm 1): assign every frame to a gloss.

Two sources of alignment:
  * gloss timings (ASLLRP, the synthetic corpus): a frame belongs to the gloss
    whose [start, end) span contains it; frames between signs (transitions,
    rest) go to the nearest span, so every valid frame gets a gloss;
  * no timings (PHOENIX, CSL-Daily): CTC Viterbi forced alignment of the
    reference under the current model's CTC posteriors, upsampled from the
    CTC frame rate (T / 4) back to the input frame rate.

Both return ``frame_gloss [B, T]``: the gloss *id* of each frame, -1 on
padding. All functions are jit-able and batched.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEG_INF = -1e30


def frames_from_spans(
    spans: jax.Array, labels: jax.Array, label_lengths: jax.Array, num_frames: int
) -> jax.Array:
    """spans: [B, L, 2] [start, end) (-1 absent), labels: [B, L] -> [B, T] gloss ids.

    A frame inside a span takes that gloss; otherwise the gloss whose span is
    nearest (distance to the closer edge). Rows without spans are all -1.
    """
    t = jnp.arange(num_frames)[None, :, None]  # [1, T, 1]
    start, end = spans[..., 0][:, None, :], spans[..., 1][:, None, :]  # [B, 1, L]
    valid = (jnp.arange(spans.shape[1])[None, :] < label_lengths[:, None]) & (spans[..., 0] >= 0)
    # 0 inside the span, else the distance to its nearest edge.
    dist = jnp.maximum(start - t, 0) + jnp.maximum(t - (end - 1), 0)
    dist = jnp.where(valid[:, None, :], dist, jnp.iinfo(jnp.int32).max)
    nearest = jnp.argmin(dist, axis=-1)  # [B, T]
    gloss = jnp.take_along_axis(labels, nearest, axis=1)
    has_any = jnp.any(valid, axis=1, keepdims=True)
    return jnp.where(has_any, gloss, -1)


def _viterbi_one(log_probs, length, labels, label_length, blank):
    """Best CTC path of one utterance -> label position (0..L-1) per frame."""
    num_t = log_probs.shape[0]
    max_l = labels.shape[0]
    s_len = 2 * max_l + 1
    ext = jnp.full((s_len,), blank, jnp.int32).at[1::2].set(labels)  # blank, l1, blank, ...
    s_idx = jnp.arange(s_len)
    s_valid = s_idx < 2 * label_length + 1
    prev2_ok = (s_idx >= 2) & (ext != blank) & (ext != jnp.roll(ext, 2))

    emit = jnp.take(log_probs, ext, axis=1)  # [T, S]
    init = jnp.where(s_idx < 2, emit[0], NEG_INF)
    init = jnp.where(s_valid, init, NEG_INF)

    def step(alpha, inputs):
        t, e = inputs
        stay = alpha
        one = jnp.concatenate([jnp.array([NEG_INF]), alpha[:-1]])
        two = jnp.where(
            prev2_ok, jnp.concatenate([jnp.array([NEG_INF, NEG_INF]), alpha[:-2]]), NEG_INF
        )
        cands = jnp.stack([stay, one, two])  # [3, S]
        back = jnp.argmax(cands, axis=0)
        new = jnp.max(cands, axis=0) + e
        new = jnp.where(s_valid, new, NEG_INF)
        active = t < length
        return jnp.where(active, new, alpha), jnp.where(active, back, 0)

    alpha, backs = jax.lax.scan(step, init, (jnp.arange(1, num_t), emit[1:]))
    last = 2 * label_length  # final blank; or the last label
    end_s = jnp.where(alpha[last] >= alpha[jnp.maximum(last - 1, 0)], last, last - 1)
    end_s = jnp.where(label_length == 0, 0, end_s)

    def back_step(s, inputs):
        t, back = inputs
        prev = jnp.where(t < length, s - back[s], s)
        return prev, s

    # backs[t-1] maps state at t to state at t-1; walk from the end.
    s0, states_rev = jax.lax.scan(back_step, end_s, (jnp.arange(num_t - 1, 0, -1), backs[::-1]))
    states = jnp.concatenate([jnp.array([s0]), states_rev[::-1]])  # [T]
    return states


def ctc_forced_align(
    log_probs: jax.Array,
    lengths: jax.Array,
    labels: jax.Array,
    label_lengths: jax.Array,
    *,
    blank: int,
) -> jax.Array:
    """log_probs: [B, T, V] -> label position per frame [B, T] (-1 on padding).

    Blank frames take the position of the previous emitted label (the first
    label before any emission), so every valid frame maps to a gloss.
    """
    states = jax.vmap(_viterbi_one, in_axes=(0, 0, 0, 0, None))(
        log_probs, lengths, labels, label_lengths, blank
    )
    pos = (states - 1) // 2  # label index of odd states; blanks round down
    pos = jnp.clip(pos, 0, jnp.maximum(label_lengths[:, None] - 1, 0))
    valid = jnp.arange(log_probs.shape[1])[None, :] < lengths[:, None]
    return jnp.where(valid & (label_lengths[:, None] > 0), pos, -1)


def frames_from_ctc(
    ctc_log_probs: jax.Array,
    ctc_lengths: jax.Array,
    labels: jax.Array,
    label_lengths: jax.Array,
    num_frames: int,
    *,
    blank: int,
) -> jax.Array:
    """Forced alignment at the CTC rate, upsampled to ``num_frames`` -> gloss ids [B, T]."""
    pos = ctc_forced_align(ctc_log_probs, ctc_lengths, labels, label_lengths, blank=blank)
    ratio = num_frames / ctc_log_probs.shape[1]
    src = jnp.minimum((jnp.arange(num_frames) / ratio).astype(jnp.int32), pos.shape[1] - 1)
    pos = pos[:, src]
    gloss = jnp.take_along_axis(labels, jnp.maximum(pos, 0), axis=1)
    return jnp.where(pos >= 0, gloss, -1)
