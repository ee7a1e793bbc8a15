"""Attention-decoder beam search (paper Algorithm 3), greedy decoding and sampling.

Algorithm 3 (LatentSequenceDecoding): each hypothesis <y, s> is extended by
token w with s' = s + log p(w | y, H) - alpha * AttnEntropy(y, H), the top
``beam`` of all extensions survive, and the search stops once every beam has
emitted EOS. On top of it (paper Table 6 names both penalties; README "Design"):

- GNMT length penalty (Wu et al. 2016): hypotheses are ranked by
  s / lp(|y|), lp(n) = ((5 + n) / 6) ** length_penalty (|y| counts EOS);
- repetition penalty as in HF ``RepetitionPenaltyLogitsProcessor``: the
  step's logit of every token already in y is divided by the penalty when
  positive and multiplied by it when negative, then renormalised;
- optional joint CTC/attention scoring: the per-token score becomes
  lambda * (psi_ctc(y + w) - psi_ctc(y)) + (1 - lambda) * log p_att(w)
  (see ``joint.py``).

The decoder is any ``step_fn(state, tokens [N], t) -> (logits [N, V],
cross_attn [N, S], new_state)`` with N = batch * beam and every leaf of
``state`` (e.g. a KV cache) having leading dimension N; the search reorders
these leaves by the surviving beams' parents. The time loop is a
``lax.while_loop``: call these functions inside ``jax.jit`` / ``nnx.jit``
together with the model to compile once per (batch, beam, max_len).

``greedy_autoregressive`` needs no step function or cache: it re-runs a
teacher-forced decoder on the whole prefix buffer (the stage-1 CodeBook
decoder's cheap dev-time decoding, paper appendix B.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from signx_jax.decoding import joint
from signx_jax.schema import BOS_ID, EOS_ID, PAD_ID

NEG_INF = -jnp.inf
StepFn = Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, jax.Array, Any]]


def attention_entropy(cross_attn: jax.Array) -> jax.Array:
    """Entropy (nats) of attention rows: [..., S] -> [...]."""
    a = cross_attn.astype(jnp.float32)
    return -jnp.sum(jnp.where(a > 0, a * jnp.log(jnp.where(a > 0, a, 1.0)), 0.0), axis=-1)


def gnmt_length_penalty(length: jax.Array, alpha: float) -> jax.Array:
    """lp(n) = ((5 + n) / 6) ** alpha (Wu et al. 2016, eq. 14)."""
    return ((5.0 + length.astype(jnp.float32)) / 6.0) ** alpha


def _is(value: Any, constant: float) -> bool:
    """True when ``value`` is a Python number equal to ``constant`` (not a tracer)."""
    return isinstance(value, (int, float)) and value == constant


def apply_repetition_penalty(
    logits: jax.Array, seen: jax.Array, penalty: float | jax.Array
) -> jax.Array:
    """HF-style repetition penalty on logits [..., V] for tokens with seen [..., V]."""
    if _is(penalty, 1.0):
        return logits
    penalised = jnp.where(logits < 0, logits * penalty, logits / penalty)
    return jnp.where(seen, penalised, logits)


def _gather_beams(tree: Any, parent: jax.Array, batch: int, beam: int, axis: int) -> Any:
    """Reorder leaves whose dim ``axis`` is batch * beam by parent [B, K]."""
    flat = (jnp.arange(batch)[:, None] * beam + parent).reshape(-1)
    return jax.tree.map(lambda leaf: jnp.take(leaf, flat, axis=axis), tree)


def attention_beam_search(
    step_fn: StepFn,
    init_state: Any,
    *,
    batch: int,
    beam: int = 8,
    max_len: int,
    bos: int = BOS_ID,
    eos: int = EOS_ID,
    entropy_alpha: float | jax.Array = 0.0,
    length_penalty: float | jax.Array = 0.0,
    repetition_penalty: float | jax.Array = 1.0,
    ctc_scorer: joint.CTCPrefixScorer | None = None,
    ctc_weight: float | jax.Array = 0.0,
    ctc_pre_beam: int | None = None,
    state_axis: int = 0,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Batched beam search over ``step_fn`` (Algorithm 3).

    init_state: decoder state for batch * beam rows (row b * beam + k) along
    dim ``state_axis`` of every leaf (1 for a [layers, N, ...] KV cache).
    Returns tokens [B, beam, max_len] int32 (-1 padded, EOS removed),
    lengths [B, beam] (without EOS) and scores [B, beam] = s / lp(|y|),
    best first. A hypothesis that reaches ``max_len`` without EOS is kept
    as is. With ctc_weight = 1 the ranking uses CTC prefix scores only (the
    attention log-probs are ignored but entropy and length penalties still
    apply). ``ctc_pre_beam`` = P scores CTC prefixes only for each
    hypothesis' P best attention tokens (+ EOS), as ESPnet does; None scores
    the whole vocabulary (exact, T*V work per hypothesis and step). The
    float options may be traced: pass them as arrays to compile once for
    all their values.
    """
    n = batch * beam
    probe = jax.eval_shape(step_fn, init_state, jnp.zeros((n,), jnp.int32), jnp.int32(0))
    vocab = probe[0].shape[-1]
    use_ctc = ctc_scorer is not None and not _is(ctc_weight, 0.0)

    carry = dict(
        t=jnp.int32(0),
        tokens=jnp.full((batch, beam, max_len), -1, jnp.int32),
        last=jnp.full((batch, beam), bos, jnp.int32),
        length=jnp.zeros((batch, beam), jnp.int32),
        # Beams 1.. start dead so the first step does not return K copies.
        score=jnp.full((batch, beam), NEG_INF).at[:, 0].set(0.0),
        finished=jnp.zeros((batch, beam), jnp.bool_),
        seen=jnp.zeros((batch, beam, vocab), jnp.bool_),
        dec=init_state,
        ctc=joint.ctc_prefix_init(ctc_scorer, beam) if use_ctc else None,
    )

    def cond(c):
        alive = ~c["finished"] & jnp.isfinite(c["score"])
        return (c["t"] < max_len) & jnp.any(alive)

    def body(c):
        logits, attn, dec = step_fn(c["dec"], c["last"].reshape(n), c["t"])
        logits = logits.reshape(batch, beam, vocab).astype(jnp.float32)
        logits = apply_repetition_penalty(logits, c["seen"], repetition_penalty)
        token_score = jax.nn.log_softmax(logits, axis=-1)
        if use_ctc:
            pre = None
            if ctc_pre_beam is not None and ctc_pre_beam < vocab:
                pre = lax.top_k(token_score, ctc_pre_beam)[1]
            psi_ext = joint.ctc_prefix_scores(ctc_scorer, c["ctc"], pre)
            psi = c["ctc"].psi[..., None]
            ctc_delta = jnp.where(jnp.isfinite(psi), psi_ext - psi, NEG_INF)
            # Select rather than multiply at the ends: 0 * -inf would be NaN.
            mixed = ctc_weight * ctc_delta + (1.0 - ctc_weight) * token_score
            mixed = jnp.where(ctc_weight == 1.0, ctc_delta, mixed)
            token_score = jnp.where(ctc_weight == 0.0, token_score, mixed)
        if not _is(entropy_alpha, 0.0):
            ent = attention_entropy(attn).reshape(batch, beam)
            token_score = token_score - entropy_alpha * ent[..., None]

        # A finished beam has a single continuation: itself, unchanged.
        frozen = jnp.where(jnp.arange(vocab) == eos, 0.0, NEG_INF)
        fin = c["finished"][..., None]
        cand = c["score"][..., None] + jnp.where(fin, frozen, token_score)  # [B, K, V]
        cand_len = c["length"][..., None] + jnp.where(fin, 0, 1)
        rank = cand / gnmt_length_penalty(cand_len, length_penalty)
        _, idx = lax.top_k(rank.reshape(batch, beam * vocab), beam)
        parent, token = idx // vocab, (idx % vocab).astype(jnp.int32)

        pick = lambda a: jnp.take_along_axis(
            a, parent.reshape(parent.shape + (1,) * (a.ndim - 2)), 1
        )
        was_finished = pick(c["finished"])
        length = pick(c["length"])
        tokens = pick(c["tokens"])
        write = jax.nn.one_hot(length, max_len, dtype=jnp.bool_) & ~was_finished[..., None]
        new = dict(
            t=c["t"] + 1,
            tokens=jnp.where(write, token[..., None], tokens),
            last=jnp.where(was_finished, pick(c["last"]), token),
            length=length + (~was_finished).astype(jnp.int32),
            score=jnp.take_along_axis(cand.reshape(batch, -1), idx, axis=1),
            finished=was_finished | (token == eos),
            seen=pick(c["seen"])
            | (jax.nn.one_hot(token, vocab, dtype=jnp.bool_) & write.any(-1)[..., None]),
            dec=_gather_beams(dec, parent, batch, beam, state_axis),
            ctc=None,
        )
        if use_ctc:
            chosen_psi = jnp.take_along_axis(psi_ext.reshape(batch, -1), idx, axis=1)
            # A finished parent's token is a placeholder: keep its state.
            adv_token = jnp.where(was_finished, eos, token)
            new["ctc"] = joint.ctc_prefix_advance(
                ctc_scorer, c["ctc"], parent, adv_token, chosen_psi
            )
        return new

    final = lax.while_loop(cond, body, carry)
    ended = final["finished"]
    out_len = final["length"] - ended.astype(jnp.int32)  # drop EOS
    tokens = jnp.where(final["tokens"] == eos, -1, final["tokens"])
    tokens = jnp.where(jnp.arange(max_len) < out_len[..., None], tokens, -1)
    scores = final["score"] / gnmt_length_penalty(final["length"], length_penalty)
    order = jnp.argsort(-scores, axis=1, stable=True)
    return (
        jnp.take_along_axis(tokens, order[..., None], axis=1),
        jnp.take_along_axis(out_len, order, axis=1),
        jnp.take_along_axis(scores, order, axis=1),
    )


def greedy_autoregressive(
    decode: Callable[[jax.Array], jax.Array], batch_size: int, max_len: int
) -> jax.Array:
    """Greedy decoding by re-running a teacher-forced decoder on the prefix
    buffer (fixed shapes, one compile).

    ``decode(tokens [B, max_len]) -> logits [B, max_len, V]``; the buffer starts
    as BOS then PAD and position t + 1 gets the argmax of the logits at t.
    Returns tokens [B, max_len - 1] (BOS dropped; nothing is cut at EOS).
    """
    tokens = jnp.full((batch_size, max_len), PAD_ID, jnp.int32).at[:, 0].set(BOS_ID)

    def body(t, tokens):
        nxt = jnp.argmax(decode(tokens)[:, t], axis=-1).astype(jnp.int32)
        return tokens.at[:, t + 1].set(nxt)

    tokens = jax.lax.fori_loop(0, max_len - 1, body, tokens)
    return tokens[:, 1:]


def _filter_logits(logits: jax.Array, top_k: int | None, top_p: float | jax.Array | None):
    """Mask logits [N, V] outside the top-k set and outside the nucleus top-p.

    top_p may be traced (top_p >= 1 keeps everything up to float rounding).
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, NEG_INF, logits)
    if top_p is not None:
        sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
        probs = jax.nn.softmax(sorted_logits, axis=-1)
        # Keep a token while the mass strictly before it is < top_p (>= 1 token).
        mass_before = jnp.cumsum(probs, axis=-1) - probs
        cutoff = jnp.min(jnp.where(mass_before < top_p, sorted_logits, jnp.inf), axis=-1)
        logits = jnp.where(logits < cutoff[..., None], NEG_INF, logits)
    return logits


def sample(
    step_fn: StepFn,
    init_state: Any,
    *,
    batch: int,
    max_len: int,
    temperature: float | jax.Array = 1.0,
    top_k: int | None = None,
    top_p: float | jax.Array | None = None,
    rng: jax.Array,
    bos: int = BOS_ID,
    eos: int = EOS_ID,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Ancestral sampling with temperature, top-k and nucleus (top-p) filtering.

    ``init_state`` has leading dim ``batch``. temperature = 0 is greedy;
    temperature and top_p may be traced (one compile for all their values).
    Returns tokens [B, max_len] (-1 padded, EOS removed), lengths [B] and the
    log-probability [B] of the sample under the unfiltered model
    (EOS included).
    """
    carry = dict(
        t=jnp.int32(0),
        rng=rng,
        tokens=jnp.full((batch, max_len), -1, jnp.int32),
        last=jnp.full((batch,), bos, jnp.int32),
        length=jnp.zeros((batch,), jnp.int32),
        logp=jnp.zeros((batch,)),
        finished=jnp.zeros((batch,), jnp.bool_),
        dec=init_state,
    )

    def cond(c):
        return (c["t"] < max_len) & ~jnp.all(c["finished"])

    def body(c):
        logits, _, dec = step_fn(c["dec"], c["last"], c["t"])
        logits = logits.astype(jnp.float32)
        rng, key = jax.random.split(c["rng"])
        greedy = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        safe_t = jnp.where(temperature > 0, temperature, 1.0)  # no 0-division when greedy
        filtered = _filter_logits(logits / safe_t, top_k, top_p)
        sampled = jax.random.categorical(key, filtered, axis=-1).astype(jnp.int32)
        token = jnp.where(temperature > 0, sampled, greedy)
        active = ~c["finished"]
        token_logp = jnp.take_along_axis(jax.nn.log_softmax(logits), token[:, None], 1)[:, 0]
        write = (jnp.arange(max_len) == c["t"]) & (active & (token != eos))[:, None]
        return dict(
            t=c["t"] + 1,
            rng=rng,
            tokens=jnp.where(write, token[:, None], c["tokens"]),
            last=token,
            length=c["length"] + (active & (token != eos)).astype(jnp.int32),
            logp=c["logp"] + jnp.where(active, token_logp, 0.0),
            finished=c["finished"] | (token == eos),
            dec=dec,
        )

    final = lax.while_loop(cond, body, carry)
    return final["tokens"], final["length"], final["logp"]
