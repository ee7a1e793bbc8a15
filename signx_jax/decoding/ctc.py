"""CTC decoding on the CTC head: greedy and prefix beam search (README "Design").

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
    token arrays (O(K^2 L)). Beams are distinct prefixes, so a beam j has at
    most one parent k.
    """
    same = jnp.all(parent_hash[:, None, :, :] == hash_[:, :, None, :], axis=-1)  # [B, K, J]
    one_longer = lengths[:, None, :] == lengths[:, :, None] + 1
    return same & one_longer & valid[:, :, None] & valid[:, None, :]


def _absorb_children(
    state: dict, p_tot: jax.Array, lp_last: jax.Array, is_last: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Prefix merging: beam j = beam k + last[j] absorbs that extension of k.

    Its probability comes from the frame (lp_last [B, J]), not the candidate
    list: a repeat needs a blank in between, so only p_blank of k feeds it.
    is_last: [B, K, S], candidate s is last[k]. Returns the absorbed mass
    [B, J] (-inf without a parent) and the flat index k * S + s [B, J] of
    the extension among the candidates (K * S if it is not one), which must
    leave them.
    """
    batch, beam, k_sym = is_last.shape
    child = _prefix_children(
        state["hash"], state["parent_hash"], state["length"], jnp.isfinite(p_tot)
    )
    has_parent, parent_of = child.any(axis=1), jnp.argmax(child, axis=1)  # [B, J]
    of_parent = lambda a: jnp.take_along_axis(a, parent_of, axis=1)
    source = jnp.where(
        of_parent(state["last"]) == state["last"], of_parent(state["p_b"]), of_parent(p_tot)
    )
    absorbed = jnp.where(has_parent, source + lp_last, NEG_INF)
    index = parent_of * k_sym + jnp.argmax(is_last, axis=-1)
    return absorbed, jnp.where(has_parent & is_last.any(-1), index, beam * k_sym)


def _top_k_symbols(x: jax.Array, k: int, chunk: int = 16) -> tuple[jax.Array, jax.Array]:
    """Exact ``lax.top_k(x, k)`` over the last axis, faster on CPU for a large V.

    XLA CPU's TopK is slow on long rows (1.8x slower at V = 1200, k = 4; 1.1x
    at k = 11). Here the V / chunk chunk maxima are ranked first: the k
    largest values lie in the k chunks with the largest maxima (a value in
    any other chunk is beaten by k chunk maxima), so the final top-k only
    reads k * chunk values.
    """
    *lead, vocab = x.shape
    n_chunks = -(-vocab // chunk)
    if k * chunk >= vocab:
        return lax.top_k(x, k)
    pad = [(0, 0)] * len(lead) + [(0, n_chunks * chunk - vocab)]
    chunks = jnp.pad(x, pad, constant_values=NEG_INF).reshape(*lead, n_chunks, chunk)
    _, best = lax.top_k(chunks.max(axis=-1), k)  # [..., k] chunk ids
    cand = jnp.take_along_axis(chunks, best[..., None], axis=-2).reshape(*lead, k * chunk)
    values, pos = lax.top_k(cand, k)
    index = jnp.take_along_axis(best, pos // chunk, axis=-1) * chunk + pos % chunk
    return values, jnp.minimum(index, vocab - 1)  # padding is -inf, never ahead of a real symbol


def _backtrack(parents: jax.Array, emitted: jax.Array, beams: jax.Array, max_len: int):
    """Token arrays of ``beams`` [B, K] from per-frame backpointers.

    parents, emitted: [T, B, K]: the beam each frame's beam k came from and
    the symbol it appended (-1 if none). Returns tokens [B, K, max_len], -1
    padded.
    """

    def back(beam, frame):
        parent, sym = frame
        return jnp.take_along_axis(parent, beam, 1), jnp.take_along_axis(sym, beam, 1)

    _, syms = lax.scan(back, beams, (parents, emitted), reverse=True)
    syms = jnp.moveaxis(syms, 0, -1)  # [B, K, T]
    keep = syms >= 0
    slot = jnp.where(keep, jnp.cumsum(keep, axis=-1) - 1, max_len)  # max_len -> dropped
    b = jnp.arange(syms.shape[0])[:, None, None]
    k = jnp.arange(syms.shape[1])[None, :, None]
    tokens = jnp.full(syms.shape[:2] + (max_len,), -1, jnp.int32)
    return tokens.at[b, k, slot].set(syms, mode="drop")


# With pyctcdecode's token_min_logp, a trained CTC head rarely has more than a
# few symbols above the threshold in any frame: when every frame's 5th best
# symbol is below it, the top 5 hold all candidates and a search over them
# gives the same result faster.
_SHORT_LIST = 5


@functools.partial(
    jax.jit,
    static_argnames=(
        "beam", "blank", "prune_top_k", "token_min_logp", "beam_prune_logp", "max_len"
    ),
)  # fmt: skip
def ctc_prefix_beam_search(
    log_probs: jax.Array,
    lengths: jax.Array,
    *,
    beam: int,
    blank: int = BLANK_ID,
    prune_top_k: int | None = None,
    token_min_logp: float | None = None,
    beam_prune_logp: float | None = None,
    max_len: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """CTC prefix beam search in the log domain with proper prefix merging.

    Each beam is a label prefix with two log-probabilities, p_blank (all
    alignments of the prefix whose last frame is blank) and p_nonblank (last
    frame emits the prefix' last symbol). Per frame, every beam proposes
    itself (blank, or a repeat of its last symbol) and one extension per
    candidate symbol; an extension equal to a prefix already in the beam is
    merged into it (prefixes are matched by a 64-bit hash, see
    ``_HASH_MULT``) and the best ``beam`` prefixes survive.

    Exact without scanning the vocabulary: only the frame's ``beam + 1`` most
    likely symbols are candidates for new prefixes. An extension of beam k by
    a symbol s outside them cannot survive, as ``beam`` candidates score at
    least as high: the extensions by the ``beam - 1`` or more of those symbols
    that are neither the blank nor k's last symbol (or the beams they merge
    into), plus k itself if the blank is among them (p_blank >= p_s), else
    one more extension. Merges read the symbol's probability from the whole
    frame, so scores are exact too.

    Pruning, as in pyctcdecode (``None`` = off, then the search is exact up
    to ties): ``prune_top_k`` caps the candidates at the frame's top k
    symbols; ``token_min_logp`` lets only symbols with log p at least this
    start new prefixes (the frame's best symbol always may; pyctcdecode also
    skips blank, repeat and merge steps below it, kept here as they cost
    nothing); ``beam_prune_logp`` drops beams more than that far below the
    frame's best one.

    log_probs: [B, T, V] normalised log-probabilities; lengths: [B].
    Returns tokens [B, beam, max_len] int32 (-1 padded), lengths [B, beam] and
    scores [B, beam] = log p(prefix | x), best first. A beam that could not be
    filled (fewer distinct prefixes than ``beam``) has score -inf. Prefixes
    are never extended beyond ``max_len`` symbols.
    """
    log_probs = log_probs.astype(jnp.float32)
    k_sym = min(log_probs.shape[-1], beam + 1, prune_top_k or log_probs.shape[-1])
    search = functools.partial(
        _prefix_beam_search, log_probs, lengths, beam=beam, blank=blank,
        token_min_logp=token_min_logp, beam_prune_logp=beam_prune_logp, max_len=max_len,
    )  # fmt: skip
    if token_min_logp is None or k_sym <= _SHORT_LIST:
        return search(_top_k_symbols(log_probs, k_sym))
    short = _top_k_symbols(log_probs, _SHORT_LIST)
    return lax.cond(
        # (not short[0][..., -1]: slicing TopK's values turns it into a full sort on CPU)
        jnp.all(jnp.sum(short[0] >= token_min_logp, axis=-1) < _SHORT_LIST),
        search,
        lambda _: search(_top_k_symbols(log_probs, k_sym)),
        short,
    )


def _prefix_beam_search(
    log_probs, lengths, top, *, beam, blank, token_min_logp, beam_prune_logp, max_len
):
    """``ctc_prefix_beam_search`` with candidates top = (log p, symbol) [B, T, S], best first."""
    batch, num_frames, _ = log_probs.shape
    k_sym = top[1].shape[-1]
    # Candidates of every frame at once, time-major [T, B, ...] for the scan.
    inside = jnp.arange(num_frames)[:, None] < lengths[None, :]  # [T, B]
    sym_lp, sym = (jnp.swapaxes(a, 0, 1) for a in top)
    ext_ok = (sym != blank) & inside[..., None]
    if token_min_logp is not None:
        ext_ok &= (sym_lp >= token_min_logp) | (jnp.arange(k_sym) == 0)
    ext_lp = jnp.where(ext_ok, sym_lp, NEG_INF)  # [T, B, S]
    # Frames past the length are a certain blank: beams carry over unchanged.
    blank_lp = jnp.where(inside, jnp.swapaxes(log_probs[..., blank], 0, 1), 0.0)

    init = dict(
        length=jnp.zeros((batch, beam), jnp.int32),
        last=jnp.full((batch, beam), -1, jnp.int32),
        hash=jnp.zeros((batch, beam, 2), jnp.uint32),
        parent_hash=jnp.zeros((batch, beam, 2), jnp.uint32),
        # Only beam 0 (the empty prefix) is alive at the start.
        p_b=jnp.full((batch, beam), NEG_INF).at[:, 0].set(0.0),
        p_nb=jnp.full((batch, beam), NEG_INF),
    )

    def step(state, frame):
        t, inside, blank_lp, ext_lp, sym = frame  # scalar, [B], [B], [B, S], [B, S]
        p_b, p_nb, last = state["p_b"], state["p_nb"], state["last"]
        p_tot = jnp.logaddexp(p_b, p_nb)
        frame_lp = lax.dynamic_index_in_dim(log_probs, t, axis=1, keepdims=False)  # [B, V]
        lp_last = jnp.take_along_axis(frame_lp, jnp.maximum(last, 0), axis=1)
        lp_last = jnp.where((last >= 0) & inside[:, None], lp_last, NEG_INF)
        stay_b = p_tot + blank_lp[:, None]
        stay_nb = p_nb + lp_last
        is_last = sym[:, None, :] == last[:, :, None]  # [B, K, S]: candidate s is last[k]

        absorbed, merged = _absorb_children(state, p_tot, lp_last, is_last)
        stay_nb = jnp.logaddexp(stay_nb, absorbed)

        # New prefixes: beam k + candidate s, [B, K, S] flattened to [B, K * S].
        ext = jnp.where(is_last, p_b[:, :, None], p_tot[:, :, None]) + ext_lp[:, None, :]
        ext = jnp.where((state["length"] < max_len)[:, :, None], ext, NEG_INF)
        ext = ext.reshape(batch, beam * k_sym)
        ext = ext.at[jnp.arange(batch)[:, None], merged].set(NEG_INF, mode="drop")

        cand = jnp.concatenate([jnp.logaddexp(stay_b, stay_nb), ext], axis=1)
        top_score, top_idx = lax.top_k(cand, beam)
        alive = jnp.isfinite(top_score)
        if beam_prune_logp is not None:
            # cand.max, not top_score[:, 0]: that slice turns XLA CPU's TopK into a sort.
            alive &= top_score >= cand.max(axis=1, keepdims=True) + beam_prune_logp
        is_ext = top_idx >= beam
        parent = jnp.where(is_ext, (top_idx - beam) // k_sym, top_idx)
        new_sym = jnp.take_along_axis(sym, jnp.maximum(top_idx - beam, 0) % k_sym, axis=1)
        pick = lambda a: jnp.take_along_axis(
            a, parent.reshape(parent.shape + (1,) * (a.ndim - 2)), axis=1
        )
        par_hash = pick(state["hash"])
        new = dict(
            length=pick(state["length"]) + is_ext.astype(jnp.int32),
            last=jnp.where(is_ext, new_sym, pick(last)),
            hash=jnp.where(is_ext[..., None], _extend_hash(par_hash, new_sym), par_hash),
            parent_hash=jnp.where(is_ext[..., None], par_hash, pick(state["parent_hash"])),
            # Extensions end in their symbol: all their mass is p_nonblank.
            p_b=jnp.where(is_ext | ~alive, NEG_INF, pick(stay_b)),
            p_nb=jnp.where(alive, jnp.where(is_ext, top_score, pick(stay_nb)), NEG_INF),
        )
        return new, (parent, jnp.where(is_ext, new_sym, -1))

    frames = (jnp.arange(num_frames), inside, blank_lp, ext_lp, sym)
    final, (parents, emitted) = lax.scan(step, init, frames)
    scores = jnp.logaddexp(final["p_b"], final["p_nb"])
    order = jnp.argsort(-scores, axis=1, stable=True)
    return (
        _backtrack(parents, emitted, order, max_len),
        jnp.take_along_axis(final["length"], order, axis=1),
        jnp.take_along_axis(scores, order, axis=1),
    )
