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
import numpy as np
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


# Two odd multipliers: a prefix is identified by two 32-bit polynomial hashes
# h(y + s) = h(y) * P + s + 1 (mod 2**32), i.e. 64 bits, so two different
# prefixes of equal length collide with probability ~2**-64.
_HASH_MULT = np.array([1_000_003, 2_654_435_761], np.uint32)


def _extend_hash(h: jax.Array, sym: jax.Array) -> jax.Array:
    """h [..., 2] uint32, sym [...] -> hash of the prefix extended by sym."""
    return h * jnp.asarray(_HASH_MULT) + (sym.astype(jnp.uint32) + 1)[..., None]


def _prefix_children(
    hash_: jax.Array, parent_hash: jax.Array, lengths: jax.Array, valid: jax.Array
) -> jax.Array:
    """child[b, k, j] = True when beam j is beam k extended by exactly one symbol.

    hash_, parent_hash: [B, K, 2] (hash of the prefix and of the prefix minus
    its last symbol); lengths, valid: [B, K]. O(K^2) instead of comparing
    token arrays (O(K^2 L)). Beams are distinct prefixes, so for a given
    (k, symbol) at most one j matches.
    """
    same = jnp.all(parent_hash[:, None, :, :] == hash_[:, :, None, :], axis=-1)  # [B, K, J]
    one_longer = lengths[:, None, :] == lengths[:, :, None] + 1
    return same & one_longer & valid[:, :, None] & valid[:, None, :]


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
    an extension equal to a prefix already in the beam is merged into it
    (prefixes are matched by a 64-bit hash, see ``_HASH_MULT``).

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
        hash=jnp.zeros((batch, beam, 2), jnp.uint32),
        parent_hash=jnp.zeros((batch, beam, 2), jnp.uint32),
        # Only beam 0 (the empty prefix) is alive at the start.
        p_b=jnp.full((batch, beam), NEG_INF).at[:, 0].set(0.0),
        p_nb=jnp.full((batch, beam), NEG_INF),
    )

    def step(state, inputs):
        frame_lp, t, sym_lp, sym = inputs  # [B, V], scalar, [B, S], [B, S]
        p_tot = jnp.logaddexp(state["p_b"], state["p_nb"])
        valid = jnp.isfinite(p_tot)
        lp_blank = frame_lp[:, blank][:, None]
        lp_last = jnp.take_along_axis(frame_lp, jnp.maximum(state["last"], 0), axis=1)
        lp_last = jnp.where(state["last"] >= 0, lp_last, NEG_INF)
        stay_b = p_tot + lp_blank
        stay_nb = state["p_nb"] + lp_last

        # Extensions by the frame's top symbols: [B, K, S].
        if k_sym == vocab:  # no pruning: symbol s is column s, no sort needed
            sym_lp, sym = frame_lp, jnp.broadcast_to(jnp.arange(vocab), (batch, vocab))
        is_last = sym[:, None, :] == state["last"][:, :, None]
        # A repeated symbol needs a blank in between, so only p_blank feeds it.
        ext_nb = jnp.where(is_last, state["p_b"][:, :, None], p_tot[:, :, None])
        ext_nb = ext_nb + sym_lp[:, None, :]
        ext_ok = (sym[:, None, :] != blank) & (state["length"][:, :, None] < max_len)
        ext_nb = jnp.where(ext_ok & valid[:, :, None], ext_nb, NEG_INF)

        # Merge: beam j that is beam k plus symbol last[j] absorbs extension
        # (k, last[j]); that extension then leaves the candidate list.
        child = _prefix_children(state["hash"], state["parent_hash"], state["length"], valid)
        parent_of = jnp.argmax(child, axis=1)  # [B, J]
        if k_sym == vocab:
            pos, found = jnp.maximum(state["last"], 0), state["last"] >= 0
        else:
            hit = sym[:, None, :] == state["last"][:, :, None]  # [B, J, S]
            pos, found = jnp.argmax(hit, axis=-1), hit.any(-1)
        merge = child.any(axis=1) & found
        flat = parent_of * k_sym + pos  # [B, J] into ext_nb.reshape(B, K * S)
        ext_flat = ext_nb.reshape(batch, beam * k_sym)
        absorbed = jnp.take_along_axis(ext_flat, flat, axis=1)
        stay_nb = jnp.where(merge, jnp.logaddexp(stay_nb, absorbed), stay_nb)
        drop = jnp.where(merge, flat, beam * k_sym)  # out of range -> no-op
        ext_flat = ext_flat.at[jnp.arange(batch)[:, None], drop].set(NEG_INF, mode="drop")

        # Select the best `beam` of K stay + K*S extension candidates.
        cand = jnp.concatenate([jnp.logaddexp(stay_b, stay_nb), ext_flat], axis=1)
        top_score, top_idx = lax.top_k(cand, beam)
        is_ext = top_idx >= beam
        parent = jnp.where(is_ext, (top_idx - beam) // k_sym, top_idx)
        new_sym = jnp.take_along_axis(sym, jnp.maximum(top_idx - beam, 0) % k_sym, axis=1)

        tokens = jnp.take_along_axis(state["tokens"], parent[:, :, None], axis=1)
        length = jnp.take_along_axis(state["length"], parent, axis=1)
        write = jax.nn.one_hot(length, max_len, dtype=jnp.bool_) & is_ext[:, :, None]
        tokens = jnp.where(write, new_sym[:, :, None], tokens)
        par_hash = jnp.take_along_axis(state["hash"], parent[:, :, None], axis=1)
        ext = is_ext[..., None]
        new = dict(
            tokens=tokens,
            hash=jnp.where(ext, _extend_hash(par_hash, new_sym), par_hash),
            parent_hash=jnp.where(
                ext, par_hash, jnp.take_along_axis(state["parent_hash"], parent[:, :, None], axis=1)
            ),
            length=length + is_ext.astype(jnp.int32),
            last=jnp.where(is_ext, new_sym, jnp.take_along_axis(state["last"], parent, axis=1)),
            # Extensions end in their symbol: all their mass is p_nonblank.
            p_b=jnp.where(is_ext, NEG_INF, jnp.take_along_axis(stay_b, parent, axis=1)),
            p_nb=jnp.where(is_ext, top_score, jnp.take_along_axis(stay_nb, parent, axis=1)),
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

    time_major = jnp.swapaxes(log_probs, 0, 1)  # [T, B, V]
    if k_sym == vocab:
        top = (jnp.zeros((num_frames, 0)), jnp.zeros((num_frames, 0)))  # unused
    else:  # one batched top-k for all frames instead of one per scan step
        top = lax.top_k(time_major, k_sym)
    frames = (time_major, jnp.arange(num_frames), *top)
    final, _ = lax.scan(step, init, frames)
    scores = jnp.logaddexp(final["p_b"], final["p_nb"])
    order = jnp.argsort(-scores, axis=1, stable=True)
    return (
        jnp.take_along_axis(final["tokens"], order[:, :, None], axis=1),
        jnp.take_along_axis(final["length"], order, axis=1),
        jnp.take_along_axis(scores, order, axis=1),
    )
