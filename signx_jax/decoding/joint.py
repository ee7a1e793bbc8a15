"""Joint CTC/attention decoding: CTC prefix scores (README "Design").

The hybrid formulation of Watanabe et al. (2017), "Hybrid CTC/Attention
Architecture for End-to-End Speech Recognition", Algorithm 2: for a prefix g
we keep, for every frame t, the forward variables r^n_t(g) (paths ending in a
non-blank emitting g's last symbol) and r^b_t(g) (paths ending in blank). The
CTC prefix probability psi(h) of an extension h = g + c sums, over the frame t
where c is first emitted, phi_{t-1}(g) * x_t(c), where phi is r^b + r^n, or
only r^b when c repeats g's last symbol. psi(g + EOS) is the full CTC
probability of g. The attention beam adds ``lambda * (psi(h) - psi(g))`` to
each candidate, so the CTC part of a finished hypothesis telescopes to
``lambda * log p_ctc(y | x)``.

Frames past an utterance's length are padded with a certain blank
(log x_t(blank) = 0, every other symbol -inf) so that every array has the
fixed length T and r_{T-1} equals r_{len-1} for the total.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from jax import lax

from signx_jax.schema import BLANK_ID, BOS_ID, EOS_ID, PAD_ID

NEG_INF = -jnp.inf


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CTCPrefixScorer:
    """The CTC head's output for the utterances being decoded.

    log_probs: [B, T, V] log-softmax of the CTC head, same vocabulary as the
    attention decoder; lengths: [B] valid frames.
    """

    log_probs: jax.Array
    lengths: jax.Array
    blank: int = dataclasses.field(default=BLANK_ID, metadata=dict(static=True))
    bos: int = dataclasses.field(default=BOS_ID, metadata=dict(static=True))
    eos: int = dataclasses.field(default=EOS_ID, metadata=dict(static=True))
    pad: int = dataclasses.field(default=PAD_ID, metadata=dict(static=True))

    def padded_log_probs(self) -> jax.Array:
        """[B, T, V] with frames >= length turned into a certain blank."""
        _, num_frames, vocab = self.log_probs.shape
        inside = (jnp.arange(num_frames)[None, :] < self.lengths[:, None])[..., None]
        certain_blank = jnp.where(jnp.arange(vocab) == self.blank, 0.0, NEG_INF)
        return jnp.where(inside, self.log_probs.astype(jnp.float32), certain_blank)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CTCPrefixState:
    """Per-hypothesis CTC forward variables.

    r_n, r_b: [B, K, T]; psi: [B, K] log prefix probability; last: [B, K]
    last symbol (-1 for the empty prefix).
    """

    r_n: jax.Array
    r_b: jax.Array
    psi: jax.Array
    last: jax.Array


def ctc_prefix_init(scorer: CTCPrefixScorer, beam: int) -> CTCPrefixState:
    """State of the empty prefix (<s>) replicated over ``beam`` hypotheses."""
    x = scorer.padded_log_probs()
    r_b = jnp.cumsum(x[:, :, scorer.blank], axis=1)  # only blanks so far
    batch, num_frames = r_b.shape
    return CTCPrefixState(
        r_n=jnp.full((batch, beam, num_frames), NEG_INF),
        r_b=jnp.broadcast_to(r_b[:, None, :], (batch, beam, num_frames)),
        psi=jnp.zeros((batch, beam)),
        last=jnp.full((batch, beam), -1, jnp.int32),
    )


def _extend(
    x_sym: jax.Array,
    x_blank: jax.Array,
    state: CTCPrefixState,
    same: jax.Array,
    keep_trace: bool,
):
    """Forward variables of g + c for candidate symbols c.

    x_sym: [T, B, K or 1, C] log x_t(c); x_blank: [T, B, 1]; same: [B, K, C]
    (c equals g's last symbol). Returns psi [B, K, C] and, when
    ``keep_trace``, r_n and r_b of the extensions as [B, K, T, C].
    """
    is_empty = (state.last < 0)[..., None]
    start = jnp.where(is_empty, 0.0, NEG_INF)  # "r^b_{-1}": only <s> is complete before t=0
    r_b_prev = jnp.concatenate([start, state.r_b[..., :-1]], axis=-1)
    r_n_prev = jnp.concatenate([jnp.full_like(start, NEG_INF), state.r_n[..., :-1]], axis=-1)
    phi_all = jnp.moveaxis(jnp.logaddexp(r_b_prev, r_n_prev), -1, 0)[..., None]  # [T,B,K,1]
    phi_same = jnp.moveaxis(r_b_prev, -1, 0)[..., None]
    shape = same.shape

    def step(carry, inputs):
        r_n, r_b, psi = carry
        x_c, x_b, p_all, p_same = inputs
        phi = jnp.where(same, p_same, p_all)
        new_n = jnp.logaddexp(r_n, phi) + x_c
        new_b = jnp.logaddexp(r_b, r_n) + x_b[..., None]
        psi = jnp.logaddexp(psi, phi + x_c)
        return (new_n, new_b, psi), ((new_n, new_b) if keep_trace else None)

    init = (jnp.full(shape, NEG_INF), jnp.full(shape, NEG_INF), jnp.full(shape, NEG_INF))
    (_, _, psi), trace = lax.scan(step, init, (x_sym, x_blank, phi_all, phi_same))
    if not keep_trace:
        return psi, None
    r_n, r_b = trace
    return psi, (jnp.moveaxis(r_n, 0, -2), jnp.moveaxis(r_b, 0, -2))


def ctc_prefix_scores(
    scorer: CTCPrefixScorer, state: CTCPrefixState, candidates: jax.Array | None = None
) -> jax.Array:
    """psi(g + c) for every hypothesis g and symbol c: [B, K, V].

    EOS gets the full CTC probability of g; PAD, BOS and the blank can never
    be emitted and get -inf. ``candidates`` [B, K, P] restricts the work to
    P symbols per hypothesis (ESPnet's partial scoring; others get -inf,
    EOS is always scored): the cost drops from T*V to T*P per hypothesis.
    """
    x = scorer.padded_log_probs()  # [B, T, V]
    batch, _, vocab = x.shape
    beam = state.last.shape[1]
    x_t = jnp.moveaxis(x, 1, 0)  # [T, B, V]
    x_blank = x_t[:, :, scorer.blank][..., None]
    if candidates is None:
        same = state.last[..., None] == jnp.arange(vocab)
        psi, _ = _extend(x_t[:, :, None, :], x_blank, state, same, False)
    else:
        b_idx = jnp.arange(batch)[:, None, None]
        same = state.last[..., None] == candidates
        part, _ = _extend(x_t[:, b_idx, candidates], x_blank, state, same, False)
        k_idx = jnp.arange(beam)[None, :, None]
        psi = jnp.full((batch, beam, vocab), NEG_INF).at[b_idx, k_idx, candidates].set(part)
    full = jnp.logaddexp(state.r_n[..., -1], state.r_b[..., -1])
    psi = psi.at[..., scorer.eos].set(full)
    never = jnp.array([scorer.pad, scorer.bos, scorer.blank])
    return psi.at[..., never].set(NEG_INF)


def ctc_prefix_advance(
    scorer: CTCPrefixScorer,
    state: CTCPrefixState,
    parent: jax.Array,
    token: jax.Array,
    psi_ext: jax.Array,
) -> CTCPrefixState:
    """State of the chosen extensions g[parent] + token.

    parent, token: [B, K]; psi_ext: [B, K] their prefix scores (taken from
    ``ctc_prefix_scores``). EOS and non-emittable tokens keep the parent's
    forward variables (their hypothesis is finished).
    """
    pick = lambda a: jnp.take_along_axis(a, parent.reshape(parent.shape + (1,) * (a.ndim - 2)), 1)
    par = CTCPrefixState(pick(state.r_n), pick(state.r_b), pick(state.psi), pick(state.last))
    x_t = jnp.moveaxis(scorer.padded_log_probs(), 1, 0)  # [T, B, V]
    x_sym = jnp.take_along_axis(x_t, jnp.broadcast_to(token, (x_t.shape[0],) + token.shape), 2)
    same = (par.last == token)[..., None]
    _, (r_n, r_b) = _extend(x_sym[..., None], x_t[:, :, scorer.blank][..., None], par, same, True)
    emits = (
        (token != scorer.eos)
        & (token != scorer.pad)
        & (token != scorer.bos)
        & (token != scorer.blank)
    )
    keep = lambda new, old: jnp.where(emits.reshape(emits.shape + (1,) * (old.ndim - 2)), new, old)
    return CTCPrefixState(
        r_n=keep(r_n[..., 0], par.r_n),
        r_b=keep(r_b[..., 0], par.r_b),
        psi=jnp.where(emits, psi_ext, par.psi),
        last=jnp.where(emits, token, par.last),
    )


def ctc_sequence_log_prob(
    log_probs: jax.Array,
    lengths: jax.Array,
    tokens: jax.Array,
    token_lengths: jax.Array,
    blank: int,
) -> jax.Array:
    """log p_ctc(y | x) of whole sequences via optax.ctc_loss.

    log_probs: [B, T, V]; lengths: [B]; tokens: [B, L] (-1 padded);
    token_lengths: [B]. Returns [B]. Impossible sequences get about -1e5
    (optax' log_epsilon) rather than -inf.
    """
    num_frames, max_len = log_probs.shape[1], tokens.shape[1]
    logit_pad = (jnp.arange(num_frames)[None, :] >= lengths[:, None]).astype(jnp.float32)
    label_pad = (jnp.arange(max_len)[None, :] >= token_lengths[:, None]).astype(jnp.float32)
    labels = jnp.where(label_pad > 0, 0, tokens)
    return -optax.ctc_loss(log_probs, logit_pad, labels, label_pad, blank_id=blank)


def rescore_nbest(
    tokens: jax.Array,
    token_lengths: jax.Array,
    att_scores: jax.Array,
    ctc_log_probs: jax.Array,
    ctc_lengths: jax.Array,
    *,
    ctc_weight: float,
    blank: int = BLANK_ID,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Re-rank n-best lists by ``lambda * log p_ctc(y) + (1 - lambda) * att_score``.

    tokens: [B, N, L] (-1 padded, no EOS); token_lengths, att_scores: [B, N];
    ctc_log_probs: [B, T, V]; ctc_lengths: [B]. Returns the n-best re-sorted
    (tokens, lengths, combined scores), best first.
    """
    batch, nbest, max_len = tokens.shape
    rep = lambda a: jnp.repeat(a, nbest, axis=0)
    ctc = ctc_sequence_log_prob(
        rep(ctc_log_probs),
        rep(ctc_lengths),
        tokens.reshape(batch * nbest, max_len),
        token_lengths.reshape(-1),
        blank,
    ).reshape(batch, nbest)
    if ctc_weight == 0.0:  # avoid 0 * -inf
        combined = att_scores
    elif ctc_weight == 1.0:
        combined = ctc
    else:
        combined = ctc_weight * ctc + (1.0 - ctc_weight) * att_scores
    order = jnp.argsort(-combined, axis=1, stable=True)
    return (
        jnp.take_along_axis(tokens, order[..., None], axis=1),
        jnp.take_along_axis(token_lengths, order, axis=1),
        jnp.take_along_axis(combined, order, axis=1),
    )
