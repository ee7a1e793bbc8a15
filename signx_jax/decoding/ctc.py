"""CTC decoding on the CTC head: greedy and prefix beam search (SPEC section 6).

Both decoders are batched, fixed-shape and compiled once per (batch, frames,
vocabulary, beam) shape: the time loop is a ``lax.scan`` with the per-utterance
length applied as a mask, so no Python code runs per frame.

Output convention shared with the rest of ``signx_jax.decoding``: token arrays
are int32 and padded with -1 after each hypothesis' length.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from signx_jax.schema import BLANK_ID

NEG_INF = -jnp.inf


@functools.partial(jax.jit, static_argnames=("blank",))
def ctc_greedy(
    logits: jax.Array, lengths: jax.Array, blank: int = BLANK_ID
) -> tuple[jax.Array, jax.Array]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks.

    logits: [B, T, V] (logits or log-probs, only the argmax matters);
    lengths: [B] valid frames. Returns tokens [B, T] int32 padded with -1 and
    token_lengths [B] int32.
    """
    _, num_frames, _ = logits.shape
    best = jnp.argmax(logits, axis=-1).astype(jnp.int32)  # [B, T]
    valid = jnp.arange(num_frames)[None, :] < lengths[:, None]
    prev = jnp.pad(best, ((0, 0), (1, 0)), constant_values=-1)[:, :-1]
    keep = valid & (best != blank) & (best != prev)
    # Stable compaction: the kept token of frame t goes to slot (#kept before t).
    slot = jnp.cumsum(keep, axis=1) - 1
    slot = jnp.where(keep, slot, num_frames)  # out of range -> dropped
    tokens = jnp.full_like(best, -1)
    tokens = jax.vmap(lambda row, s, v: row.at[s].set(v, mode="drop"))(tokens, slot, best)
    return tokens, keep.sum(axis=1).astype(jnp.int32)


def _prefix_children(tokens: jax.Array, lengths: jax.Array, valid: jax.Array) -> jax.Array:
    """child[b, k, j] = True when beam j is beam k extended by exactly one symbol.

    tokens: [B, K, L] (-1 padded), lengths/valid: [B, K]. Beams are distinct
    prefixes, so for a given (k, symbol) at most one j matches.
    """
    max_len = tokens.shape[-1]
    pos = jnp.arange(max_len)
    # Positions < len[k] must agree between beam k and beam j.
    within = pos[None, None, None, :] < lengths[:, :, None, None]  # [B, K, 1, L]
    same = tokens[:, :, None, :] == tokens[:, None, :, :]  # [B, K, J, L]
    prefix_ok = jnp.all(same | ~within, axis=-1)
    one_longer = lengths[:, None, :] == lengths[:, :, None] + 1
    return prefix_ok & one_longer & valid[:, :, None] & valid[:, None, :]


@functools.partial(jax.jit, static_argnames=("beam", "blank", "prune_top_k", "max_len"))
def ctc_prefix_beam_search(
    log_probs: jax.Array,
    lengths: jax.Array,
    *,
    beam: int,
    blank: int = BLANK_ID,
    prune_top_k: int | None = None,
    max_len: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """CTC prefix beam search in the log domain with proper prefix merging.

    Each beam is a label prefix with two log-probabilities, p_blank (all
    alignments of the prefix whose last frame is blank) and p_nonblank (last
    frame emits the prefix' last symbol). Per frame, every beam proposes
    itself (blank or repeat of its last symbol) and one extension per symbol
    among the frame's ``prune_top_k`` most likely ones (all symbols if None);
    an extension equal to a prefix already in the beam is merged into it.

    log_probs: [B, T, V] normalised log-probabilities; lengths: [B].
    Returns tokens [B, beam, max_len] int32 (-1 padded), lengths [B, beam] and
    scores [B, beam] = log p(prefix | x), best first. A beam that could not be
    filled (fewer distinct prefixes than ``beam``) has score -inf. Prefixes
    are never extended beyond ``max_len`` symbols.
    """
    batch, num_frames, vocab = log_probs.shape
    k_sym = vocab if prune_top_k is None else min(prune_top_k, vocab)
    log_probs = log_probs.astype(jnp.float32)

    init = dict(
        tokens=jnp.full((batch, beam, max_len), -1, jnp.int32),
        length=jnp.zeros((batch, beam), jnp.int32),
        last=jnp.full((batch, beam), -1, jnp.int32),
        # Only beam 0 (the empty prefix) is alive at the start.
        p_b=jnp.full((batch, beam), NEG_INF).at[:, 0].set(0.0),
        p_nb=jnp.full((batch, beam), NEG_INF),
    )

    def step(state, inputs):
        frame_lp, t = inputs  # [B, V], scalar
        p_tot = jnp.logaddexp(state["p_b"], state["p_nb"])
        valid = jnp.isfinite(p_tot)
        lp_blank = frame_lp[:, blank][:, None]
        lp_last = jnp.take_along_axis(frame_lp, jnp.maximum(state["last"], 0), axis=1)
        lp_last = jnp.where(state["last"] >= 0, lp_last, NEG_INF)
        stay_b = p_tot + lp_blank
        stay_nb = state["p_nb"] + lp_last

        # Extensions by the frame's top symbols: [B, K, S].
        sym_lp, sym = lax.top_k(frame_lp, k_sym)  # [B, S]
        is_last = sym[:, None, :] == state["last"][:, :, None]
        # A repeated symbol needs a blank in between, so only p_blank feeds it.
        ext_nb = jnp.where(is_last, state["p_b"][:, :, None], p_tot[:, :, None])
        ext_nb = ext_nb + sym_lp[:, None, :]
        ext_ok = (sym[:, None, :] != blank) & (state["length"][:, :, None] < max_len)
        ext_nb = jnp.where(ext_ok & valid[:, :, None], ext_nb, NEG_INF)

        # Merge: extension (k, s) that equals beam j is added to j's p_nonblank.
        child = _prefix_children(state["tokens"], state["length"], valid)  # [B, K, J]
        child_sym = state["last"]  # [B, J]: the symbol a child adds to its parent
        match = child[:, :, None, :] & (sym[:, None, :, None] == child_sym[:, None, None, :])
        merged = jnp.where(match, ext_nb[..., None], NEG_INF)  # [B, K, S, J]
        stay_nb = jnp.logaddexp(stay_nb, jax.nn.logsumexp(merged, axis=(1, 2)))
        ext_nb = jnp.where(match.any(-1), NEG_INF, ext_nb)

        # Select the best `beam` of K stay + K*S extension candidates.
        cand_b = jnp.concatenate([stay_b, jnp.full((batch, beam * k_sym), NEG_INF)], axis=1)
        cand_nb = jnp.concatenate([stay_nb, ext_nb.reshape(batch, -1)], axis=1)
        top_score, top_idx = lax.top_k(jnp.logaddexp(cand_b, cand_nb), beam)
        is_ext = top_idx >= beam
        parent = jnp.where(is_ext, (top_idx - beam) // k_sym, top_idx)
        new_sym = jnp.take_along_axis(sym, jnp.maximum(top_idx - beam, 0) % k_sym, axis=1)

        tokens = jnp.take_along_axis(state["tokens"], parent[:, :, None], axis=1)
        length = jnp.take_along_axis(state["length"], parent, axis=1)
        write = jax.nn.one_hot(length, max_len, dtype=jnp.bool_) & is_ext[:, :, None]
        tokens = jnp.where(write, new_sym[:, :, None], tokens)
        new = dict(
            tokens=tokens,
            length=length + is_ext.astype(jnp.int32),
            last=jnp.where(is_ext, new_sym, jnp.take_along_axis(state["last"], parent, axis=1)),
            p_b=jnp.take_along_axis(cand_b, top_idx, axis=1),
            p_nb=jnp.take_along_axis(cand_nb, top_idx, axis=1),
        )
        # Dead candidates keep -inf everywhere so `valid` stays exact.
        dead = ~jnp.isfinite(top_score)
        new["p_b"] = jnp.where(dead, NEG_INF, new["p_b"])
        new["p_nb"] = jnp.where(dead, NEG_INF, new["p_nb"])
        active = (t < lengths)[:, None]
        new = jax.tree.map(
            lambda n, o: jnp.where(active.reshape(active.shape + (1,) * (n.ndim - 2)), n, o),
            new,
            state,
        )
        return new, None

    frames = (jnp.swapaxes(log_probs, 0, 1), jnp.arange(num_frames))
    final, _ = lax.scan(step, init, frames)
    scores = jnp.logaddexp(final["p_b"], final["p_nb"])
    order = jnp.argsort(-scores, axis=1, stable=True)
    return (
        jnp.take_along_axis(final["tokens"], order[:, :, None], axis=1),
        jnp.take_along_axis(final["length"], order, axis=1),
        jnp.take_along_axis(scores, order, axis=1),
    )
