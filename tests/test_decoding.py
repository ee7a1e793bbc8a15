"""Decoding against brute force: CTC path enumeration and exhaustive sequence search."""

import collections
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from signx_jax import decoding
from signx_jax.decoding import CTCPrefixScorer, ctc_greedy, ctc_prefix_beam_search
from signx_jax.decoding.ctc import _top_k_symbols
from signx_jax.schema import BOS_ID

# Jitted once per shape: step_fn (a bound method) and the sizes are static, the
# float options (alpha, penalties, ctc_weight) are traced.
attention_beam_search = jax.jit(
    decoding.attention_beam_search,
    static_argnames=("step_fn", "batch", "beam", "max_len", "bos", "eos", "ctc_pre_beam"),
)
# temperature and top_p stay traced: one compile per top_k.
sample = jax.jit(
    decoding.sample, static_argnames=("step_fn", "batch", "max_len", "top_k", "bos", "eos")
)
ctc_prefix_init = jax.jit(decoding.ctc_prefix_init, static_argnames="beam")
ctc_prefix_scores = jax.jit(decoding.ctc_prefix_scores)
ctc_prefix_advance = jax.jit(decoding.ctc_prefix_advance)
rescore_nbest = jax.jit(decoding.rescore_nbest, static_argnames=("ctc_weight", "blank"))

# ----------------------------------------------------------------------------- brute force


def collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(int(c))
        prev = c
    return tuple(out)


def ctc_brute_force(log_probs, blank):
    """{label sequence: log p} by enumerating all V**T alignments of [T, V]."""
    num_frames, vocab = log_probs.shape
    acc = {}
    symbols = [v for v in range(vocab) if np.isfinite(log_probs[:, v]).any()]
    for path in itertools.product(symbols, repeat=num_frames):
        lp = sum(float(log_probs[t, c]) for t, c in enumerate(path))
        acc.setdefault(collapse(path, blank), []).append(lp)
    return {k: float(np.logaddexp.reduce(v)) for k, v in acc.items()}


def decoded(tokens, lengths, scores):
    """[K, L] beams -> {tuple: score} of the finite ones."""
    out = {}
    for row, n, s in zip(np.asarray(tokens), np.asarray(lengths), np.asarray(scores), strict=True):
        if np.isfinite(s):
            seq = tuple(int(x) for x in row[:n])
            assert seq not in out, f"duplicate beam {seq}"
            assert (row[n:] == -1).all()
            out[seq] = float(s)
    return out


def random_log_probs(seed, shape, scale=2.0):
    rng = np.random.default_rng(seed)
    return np.asarray(jax.nn.log_softmax(scale * rng.normal(size=shape), axis=-1))


# ----------------------------------------------------------------------------- CTC greedy


def test_ctc_greedy_hand_computed():
    blank = 4
    path = [[1, 1, 4, 1, 2, 2, 4, 3], [4, 4, 4, 4, 4, 4, 4, 4], [3, 3, 3, 4, 3, 0, 0, 0]]
    logits = jax.nn.one_hot(jnp.array(path), 6) * 5.0
    tokens, lengths = ctc_greedy(logits, jnp.array([8, 8, 5]), blank=blank)
    np.testing.assert_array_equal(lengths, [4, 0, 2])
    np.testing.assert_array_equal(tokens[0], [1, 1, 2, 3, -1, -1, -1, -1])
    np.testing.assert_array_equal(tokens[1], [-1] * 8)
    np.testing.assert_array_equal(tokens[2], [3, 3, -1, -1, -1, -1, -1, -1])  # frames >= 5 ignored


# ----------------------------------------------------------------------------- CTC prefix beam


def test_prefix_beam_equals_exhaustive_alignment_enumeration():
    # T=4, 3 non-blank symbols: at most 121 prefixes, so beam 128 never prunes
    # and every prefix score must equal the sum over its alignments.
    lp = random_log_probs(0, (3, 4, 4))
    lengths = np.array([4, 4, 3])
    tokens, lens, scores = ctc_prefix_beam_search(
        jnp.asarray(lp), jnp.asarray(lengths), beam=128, blank=0, max_len=4
    )
    for b in range(3):
        brute = ctc_brute_force(lp[b, : lengths[b]], blank=0)
        got = decoded(tokens[b], lens[b], scores[b])
        assert set(got) == set(brute)
        for seq, s in brute.items():
            assert got[seq] == pytest.approx(s, abs=1e-5)
        best = max(brute, key=brute.get)
        assert tuple(np.asarray(tokens[b, 0, : lens[b, 0]])) == best


@functools.partial(jax.jit, static_argnames="blank")
def optax_log_prob(lp, lengths, tokens, lens, blank):
    """log p(y|x) = -optax.ctc_loss for tokens [N, L] (-1 padded) against lp [N, T, V]."""
    num_frames, max_len = lp.shape[1], tokens.shape[1]
    label_pad = (jnp.arange(max_len)[None] >= lens[:, None]).astype(jnp.float32)
    logit_pad = (jnp.arange(num_frames)[None] >= lengths[:, None]).astype(jnp.float32)
    labels = jnp.where(label_pad > 0, 0, tokens)
    return -optax.ctc_loss(lp, logit_pad, labels, label_pad, blank_id=blank)


@pytest.mark.parametrize("beam,prune", [(364, None), (6, 3)], ids=["exact", "pruned"])
def test_prefix_beam_scores_versus_minus_optax_ctc_loss(beam, prune):
    # T=5 and 3 non-blank symbols: 364 prefixes, so beam 364 without pruning
    # is exact and must equal -ctc_loss; a pruned search drops alignments
    # through discarded prefixes, so its scores are lower bounds.
    lp = jnp.asarray(random_log_probs(1, (2, 5, 4), scale=3.0))
    lengths = jnp.array([5, 4])
    tokens, lens, scores = ctc_prefix_beam_search(
        lp, lengths, beam=beam, blank=3, prune_top_k=prune, max_len=5
    )
    keep = np.isfinite(np.asarray(scores))
    want = optax_log_prob(
        jnp.repeat(lp, beam, axis=0),
        jnp.repeat(lengths, beam),
        tokens.reshape(-1, 5),
        lens.reshape(-1),
        blank=3,
    ).reshape(2, beam)
    if prune is None:
        np.testing.assert_allclose(scores[keep], want[keep], rtol=1e-5, atol=1e-5)
    else:
        assert np.all(np.asarray(scores)[keep] <= np.asarray(want)[keep] + 1e-5)


def test_prefix_beam_ignores_padded_frames_and_full_pruning_is_no_pruning():
    lp = random_log_probs(2, (2, 9, 6))
    trunc = ctc_prefix_beam_search(
        jnp.asarray(lp[:, :6]), jnp.array([6, 6]), beam=4, blank=4, max_len=9
    )
    padded = ctc_prefix_beam_search(
        jnp.asarray(lp), jnp.array([6, 6]), beam=4, blank=4, prune_top_k=6, max_len=9
    )
    for a, b in zip(trunc, padded, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def prefix_beam_reference(lp, beam, blank, token_min_logp=None, beam_prune_logp=None):
    """Textbook CTC prefix beam search over every symbol (dicts, float64): {prefix: log p}.

    token_min_logp only gates new prefixes (an extension already in the beam
    is always merged); beam_prune_logp drops beams below the best one minus it.
    """
    beams = {(): (0.0, -np.inf)}  # prefix -> (p_blank, p_nonblank)
    for frame in np.asarray(lp, np.float64):
        best = int(np.argmax(frame))
        new = collections.defaultdict(lambda: [-np.inf, -np.inf])
        for prefix, (p_b, p_nb) in beams.items():
            p_tot = np.logaddexp(p_b, p_nb)
            new[prefix][0] = np.logaddexp(new[prefix][0], p_tot + frame[blank])
            if prefix:
                new[prefix][1] = np.logaddexp(new[prefix][1], p_nb + frame[prefix[-1]])
            for s in range(len(frame)):
                ext = prefix + (s,)
                allowed = token_min_logp is None or frame[s] >= token_min_logp or s == best
                if s == blank or (ext not in beams and not allowed):
                    continue
                source = p_b if prefix and s == prefix[-1] else p_tot
                new[ext][1] = np.logaddexp(new[ext][1], source + frame[s])
        ranked = sorted(new.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:beam]
        top = np.logaddexp(*ranked[0][1])
        if beam_prune_logp is not None:
            ranked = [(k, v) for k, v in ranked if np.logaddexp(*v) >= top + beam_prune_logp]
        beams = dict(ranked)
    return {k: float(np.logaddexp(*v)) for k, v in beams.items() if np.isfinite(np.logaddexp(*v))}


def assert_same_beams(tokens, lens, scores, want):
    got = decoded(tokens, lens, scores)
    assert set(got) == set(want)
    for seq, s in want.items():
        assert got[seq] == pytest.approx(s, abs=1e-4)
    assert tuple(np.asarray(tokens[0, : lens[0]])) == max(want, key=want.get)


def test_prefix_beam_equals_textbook_search_over_all_symbols():
    # V = 12 > beam + 1 = 4: only the top 4 symbols of a frame are candidates
    # for new prefixes, which must not change any beam or score.
    lp = random_log_probs(7, (3, 8, 12), scale=1.5)
    lengths = np.array([8, 5, 7])
    out = ctc_prefix_beam_search(jnp.asarray(lp), jnp.asarray(lengths), beam=3, blank=11, max_len=8)
    for b in range(3):
        want = prefix_beam_reference(lp[b, : lengths[b]], beam=3, blank=11)
        assert_same_beams(*(x[b] for x in out), want)


def test_prefix_beam_candidates_are_the_frames_top_beam_plus_one_symbols():
    # Beam 3: 4 candidate symbols per frame. Utterance 0, frame 1 ranks blank,
    # 1 (the best beam's last symbol), 2, 3, and the survivors are "1", "1 2"
    # and "1 3": the 4th symbol is needed. Utterance 1, frame 1 ranks symbol 1
    # 5th, outside the candidates, yet the empty beam + 1 must still merge into
    # the beam "1" (its probability is read from the frame).
    probs = np.array(
        [
            [[0.01, 0.96, 0.012, 0.008, 0.006, 0.004], [0.3, 0.28, 0.2, 0.15, 0.05, 0.02]],
            [[0.47, 0.47, 0.03, 0.01, 0.01, 0.01], [0.35, 0.1, 0.2, 0.15, 0.12, 0.08]],
        ]
    )
    lp = np.log(probs)
    out = ctc_prefix_beam_search(
        jnp.asarray(lp, jnp.float32), jnp.array([2, 2]), beam=3, blank=0, max_len=2
    )
    for b in range(2):
        assert_same_beams(*(x[b] for x in out), prefix_beam_reference(lp[b], 3, 0))
    assert set(decoded(*(x[0] for x in out))) == {(1,), (1, 2), (1, 3)}


def test_prefix_beam_token_min_logp_and_beam_prune_logp_match_textbook():
    # Beam 5: 6 candidates per frame. Flat frames put 5 or more symbols above
    # the threshold (all 6 candidates are searched), peaky ones at most 4 (the
    # 5-symbol short list is searched, same result); near-uniform frames have
    # none above it, so only their best symbol may start a prefix.
    flat = random_log_probs(9, (3, 8, 12), scale=1.5)
    peaky = np.asarray(jax.nn.log_softmax(flat + 6.0 * (flat == flat.max(-1, keepdims=True))))
    uniform = random_log_probs(10, (3, 8, 12), scale=0.05)
    above = lambda lp: (lp >= -2.3).sum(-1).max()
    assert above(flat) >= 5 > above(peaky) and above(uniform) == 0
    lengths = np.array([8, 6, 7])
    changed = 0
    for lp in (flat, peaky, uniform):
        out = ctc_prefix_beam_search(
            jnp.asarray(lp), jnp.asarray(lengths), beam=5, blank=0,
            token_min_logp=-2.3, beam_prune_logp=-2.0, max_len=8,
        )  # fmt: skip
        for b in range(3):
            utt = lp[b, : lengths[b]]
            want = prefix_beam_reference(utt, 5, 0, token_min_logp=-2.3, beam_prune_logp=-2.0)
            assert_same_beams(*(x[b] for x in out), want)
            changed += want != prefix_beam_reference(utt, 5, 0)
    assert changed  # the pruning really pruned something


def test_prefix_beam_token_min_logp_keeps_every_symbol_above_it():
    # Beam 5: 6 candidates per frame. Frame 1 has 6 symbols above the
    # threshold, so the 5-symbol short list must not be used: "1 5" (the 6th
    # symbol) survives next to "1", "1 2", "1 3" and "1 4".
    frame0 = [0.012, 0.94, 0.011, 0.01, 0.009, 0.008, 0.006, 0.004]
    frame1 = [0.22, 0.21, 0.18, 0.15, 0.12, 0.11, 0.007, 0.003]
    lp = np.log(np.array([[frame0, frame1]]))
    out = ctc_prefix_beam_search(
        jnp.asarray(lp, jnp.float32), jnp.array([2]), beam=5, blank=0,
        token_min_logp=-2.3, max_len=2,
    )  # fmt: skip
    assert_same_beams(*(x[0] for x in out), prefix_beam_reference(lp[0], 5, 0, token_min_logp=-2.3))
    assert set(decoded(*(x[0] for x in out))) == {(1,), (1, 2), (1, 3), (1, 4), (1, 5)}


def test_chunked_top_k_symbols_equal_lax_top_k():
    # V = 1203 is not a multiple of the chunk: the last chunk is padded. One
    # row has only 3 finite values, all in that chunk: -inf fills its top k,
    # and padding must never be returned as a symbol.
    x = np.array(random_log_probs(11, (2, 3, 1203)))
    x[1, 2, :1200] = -np.inf
    values, index = jax.jit(_top_k_symbols, static_argnums=1)(jnp.asarray(x), 5)
    want_values, want_index = jax.lax.top_k(jnp.asarray(x), 5)
    np.testing.assert_array_equal(values, want_values)
    finite = np.isfinite(np.asarray(want_values))
    np.testing.assert_array_equal(np.asarray(index)[finite], np.asarray(want_index)[finite])
    assert np.asarray(index).max() < 1203


def test_ctc_decoders_compile_once_per_shape_whatever_the_lengths():
    lp = jnp.asarray(random_log_probs(12, (2, 7, 6)))
    searches, greedys = ctc_prefix_beam_search._cache_size(), ctc_greedy._cache_size()
    for lengths in ([7, 3], [5, 6], [1, 7]):
        ctc_prefix_beam_search(lp, jnp.array(lengths), beam=2, blank=4, max_len=7)
        ctc_greedy(lp, jnp.array(lengths), blank=4)
    assert ctc_prefix_beam_search._cache_size() == searches + 1
    assert ctc_greedy._cache_size() == greedys + 1


def test_prefix_beam_one_equals_greedy_on_peaky_posteriors():
    # With one symbol of probability 1 - 1e-4 per frame all mass sits on the
    # greedy path, so beam 1 must return its collapse (repeats, blanks and
    # blank-separated repeats included).
    rng = np.random.default_rng(3)
    best = rng.integers(0, 5, size=(16, 10))
    best[:, 3] = best[:, 2]  # force repeats
    probs = np.full((16, 10, 5), 1e-4 / 4)
    np.put_along_axis(probs, best[..., None], 1 - 1e-4, axis=-1)
    lp = jnp.log(jnp.asarray(probs))
    g_tok, g_len = ctc_greedy(lp, jnp.full((16,), 10), blank=4)
    b_tok, b_len, _ = ctc_prefix_beam_search(lp, jnp.full((16,), 10), beam=1, blank=4, max_len=10)
    np.testing.assert_array_equal(b_len[:, 0], g_len)
    np.testing.assert_array_equal(b_tok[:, 0], g_tok)


def test_prefix_beam_one_differs_from_greedy_where_prefix_merging_matters():
    # Greedy best path: a, blank, a -> "a a". Prefix "a" collects more mass
    # (0.95 * 0.45 + 0.45 * 0.5 = 0.6525 vs 0.5 * 0.5 = 0.25 for "a a" at
    # frame 3), so beam 1 (and the exhaustive optimum) keep "a".
    a, x, blank = 0, 1, 2
    probs = np.zeros((1, 3, 3))
    probs[0, 0] = [1.0 - 2e-6, 1e-6, 1e-6]
    probs[0, 1, [blank, a, x]] = [0.5, 0.45, 0.05]
    probs[0, 2, [a, blank, x]] = [0.5, 0.45, 0.05]
    lp = jnp.log(jnp.asarray(probs))
    g_tok, g_len = ctc_greedy(lp, jnp.array([3]), blank=blank)
    b_tok, b_len, _ = ctc_prefix_beam_search(lp, jnp.array([3]), beam=1, blank=blank, max_len=3)
    assert list(np.asarray(g_tok[0, : g_len[0]])) == [a, a]
    assert list(np.asarray(b_tok[0, 0, : b_len[0, 0]])) == [a]
    brute = ctc_brute_force(np.asarray(lp[0]), blank)
    assert max(brute, key=brute.get) == (a,)


# ----------------------------------------------------------------------------- tiny decoder


class TinyDecoder:
    """Random-table decoder whose logits depend on the source row and the whole history.

    The state is a token history [N, max_len] (a stand-in for a KV cache) and
    a source id [N], so a beam search that reorders state rows wrongly gives
    wrong scores.
    """

    def __init__(self, seed, vocab, max_len, sources=3, src_len=5):
        keys = jax.random.split(jax.random.key(seed), 3)
        self.vocab, self.max_len = vocab, max_len
        self.hist_w = 1.5 * jax.random.normal(keys[0], (max_len, vocab, vocab))
        self.src_w = 1.5 * jax.random.normal(keys[1], (sources, vocab))
        self.att_w = 2.0 * jax.random.normal(keys[2], (max_len, vocab, src_len))

    def init(self, src):
        return {"hist": jnp.full((src.shape[0], self.max_len), -1, jnp.int32), "src": src}

    def step(self, state, tokens, t):
        hist = state["hist"].at[:, t].set(tokens)
        onehot = jax.nn.one_hot(hist, self.vocab)  # -1 -> zero row
        logits = jnp.einsum("npv,pvw->nw", onehot, self.hist_w) + self.src_w[state["src"]]
        attn = jax.nn.softmax(jnp.einsum("npv,pvs->ns", onehot, self.att_w), axis=-1)
        return logits, attn, {"hist": hist, "src": state["src"]}


def all_sequences(vocab, max_len, eos):
    """Every output: EOS-terminated of length <= max_len, or max_len without EOS."""
    symbols = [v for v in range(vocab) if v != eos]
    out = []
    for n in range(max_len):
        out += [s + (eos,) for s in itertools.product(symbols, repeat=n)]
    return out + list(itertools.product(symbols, repeat=max_len))


@functools.partial(jax.jit, static_argnums=0)
def teacher_forced(step_fn, state, inputs):
    """Run step_fn on given inputs [N, L]: logits [L, N, V], attention [L, N, S]."""
    outs = []
    for t in range(inputs.shape[1]):
        logits, attn, state = step_fn(state, inputs[:, t], t)
        outs.append((logits, attn))
    return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])


def exhaustive_scores(dec, src, seqs, *, bos, alpha, lp_alpha, rep):
    """Algorithm-3 score of each sequence, computed row-wise without search."""
    n, length = len(seqs), dec.max_len
    padded = np.array([list(s) + [0] * (length - len(s)) for s in seqs])
    lens = np.array([len(s) for s in seqs])
    inputs = np.concatenate([np.full((n, 1), bos), padded[:, :-1]], axis=1)
    all_logits, all_attn = teacher_forced(
        dec.step, dec.init(jnp.full((n,), src, jnp.int32)), jnp.asarray(inputs)
    )
    total = np.zeros(n)
    seen = np.zeros((n, dec.vocab), bool)
    for t in range(length):
        logits, attn = all_logits[t], all_attn[t]
        logits = np.asarray(logits, np.float64)
        logits = np.where(seen, np.where(logits < 0, logits * rep, logits / rep), logits)
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        a = np.asarray(attn, np.float64)
        ent = -(a * np.log(a)).sum(1)
        step = logp[np.arange(n), padded[:, t]] - alpha * ent
        total += np.where(t < lens, step, 0.0)
        seen[np.arange(n), padded[:, t]] |= t < lens
    return total / ((5.0 + lens) / 6.0) ** lp_alpha


def strip_eos(seq, eos):
    return seq[:-1] if seq and seq[-1] == eos else seq


@pytest.mark.parametrize(
    "alpha,lp_alpha,rep", [(0.0, 0.0, 1.0), (0.7, 1.0, 1.8)], ids=["plain", "penalties"]
)
def test_attention_beam_equals_exhaustive_search(alpha, lp_alpha, rep):
    vocab, max_len, bos, eos, beam = 4, 3, 1, 2, 48
    dec = TinyDecoder(0, vocab, max_len)
    seqs = all_sequences(vocab, max_len, eos)  # 40 < beam: nothing is pruned
    srcs = jnp.repeat(jnp.arange(2), beam)
    tokens, lens, scores = attention_beam_search(
        dec.step,
        dec.init(srcs),
        batch=2,
        beam=beam,
        max_len=max_len,
        bos=bos,
        eos=eos,
        entropy_alpha=alpha,
        length_penalty=lp_alpha,
        repetition_penalty=rep,
    )
    for b in range(2):
        want = exhaustive_scores(dec, b, seqs, bos=bos, alpha=alpha, lp_alpha=lp_alpha, rep=rep)
        want = {strip_eos(s, eos): float(w) for s, w in zip(seqs, want, strict=True)}
        got = decoded(tokens[b], lens[b], scores[b])
        assert set(got) == set(want)
        for seq, w in want.items():
            assert got[seq] == pytest.approx(w, abs=1e-4)
        assert tuple(np.asarray(tokens[b, 0, : lens[b, 0]])) == max(want, key=want.get)


def test_attention_beam_compiles_once_for_all_penalty_values_and_sources():
    dec = TinyDecoder(1, vocab=5, max_len=4)
    before = attention_beam_search._cache_size()
    for src, (alpha, lp, rep) in enumerate([(0.0, 0.0, 1.0), (0.3, 0.7, 2.5), (1.0, 1.0, 1.2)]):
        attention_beam_search(
            dec.step, dec.init(jnp.full((6,), src % 3, jnp.int32)), batch=2, beam=3,
            max_len=4, bos=1, eos=2, entropy_alpha=alpha, length_penalty=lp,
            repetition_penalty=rep,
        )  # fmt: skip
    assert attention_beam_search._cache_size() == before + 1


def test_attention_beam_stops_once_every_beam_has_ended():
    # EOS is always e^20 times likelier than any other token: after step 0
    # one beam has ended, after step 1 both have, so the decoder runs twice
    # although max_len is 6.
    vocab, eos, steps = 5, 2, []

    def step_fn(state, tokens, t):
        jax.debug.callback(lambda t: steps.append(int(t)), t)
        logits = jnp.where(jnp.arange(vocab) == eos, 20.0, 0.0)
        return (
            jnp.broadcast_to(logits, (tokens.shape[0], vocab)),
            jnp.ones((tokens.shape[0], 3)) / 3,
            state,
        )

    tokens, lens, _ = attention_beam_search(
        step_fn, jnp.zeros((2,)), batch=1, beam=2, max_len=6, eos=eos
    )
    jax.block_until_ready(tokens)
    assert steps == [0, 1]
    assert lens[0, 0] == 0 and lens[0, 1] == 1  # "" and one token before EOS


def test_attention_beam_batch_rows_are_independent_and_state_is_reordered():
    vocab, max_len, beam = 6, 5, 3
    dec = TinyDecoder(1, vocab, max_len)

    def run(src):
        return attention_beam_search(
            dec.step, dec.init(jnp.repeat(src, beam)), batch=3, beam=beam, max_len=max_len,
            entropy_alpha=0.3,
        )  # fmt: skip

    batched = run(jnp.arange(3))
    # Permuting the batch permutes the results (no mixing between rows).
    perm = np.array([2, 0, 1])
    permuted = run(jnp.asarray(perm))
    for x, y in zip(batched, permuted, strict=True):
        np.testing.assert_allclose(np.asarray(x)[perm], y, rtol=1e-5)
    # Scores recomputed from scratch for the returned beams (catches bad reordering).
    for b in range(3):
        seqs = []
        for row, n in zip(np.asarray(batched[0][b]), np.asarray(batched[1][b]), strict=True):
            seq = tuple(int(x) for x in row[:n])
            seqs.append(seq + (2,) if n < max_len else seq)
        want = exhaustive_scores(dec, b, seqs, bos=1, alpha=0.3, lp_alpha=0.0, rep=1.0)
        np.testing.assert_allclose(batched[2][b], want, rtol=1e-4)


# ----------------------------------------------------------------------------- joint CTC/attention


def prefix_brute_force(log_probs, blank, prefix):
    """Sum of p(y) over label sequences y starting with ``prefix``."""
    full = ctc_brute_force(log_probs, blank)
    hits = [v for k, v in full.items() if k[: len(prefix)] == tuple(prefix)]
    return float(np.logaddexp.reduce(hits)) if hits else -np.inf


def test_ctc_prefix_scores_equal_brute_force_prefix_probabilities():
    vocab, blank, eos = 6, 4, 2
    lp = random_log_probs(4, (1, 4, vocab))
    scorer = CTCPrefixScorer(jnp.asarray(lp), jnp.array([4]), blank=blank)
    state = ctc_prefix_init(scorer, beam=1)
    full = ctc_brute_force(lp[0], blank)
    prefix = []
    for token in [3, 3, 5]:  # includes a repeat that needs a blank in between
        psi = np.asarray(ctc_prefix_scores(scorer, state))[0, 0]
        for c in [3, 5]:
            assert psi[c] == pytest.approx(prefix_brute_force(lp[0], blank, prefix + [c]), abs=1e-5)
        assert psi[eos] == pytest.approx(full.get(tuple(prefix), -np.inf), abs=1e-5)
        assert np.isneginf(psi[[0, 1, blank]]).all()
        # Partial scoring (pre-beam) gives the same values on its candidates.
        part = np.asarray(ctc_prefix_scores(scorer, state, jnp.array([[[5, 3]]])))[0, 0]
        np.testing.assert_allclose(part[[3, 5, eos]], psi[[3, 5, eos]], rtol=1e-6)
        assert np.isneginf(part[[0, 1, blank]]).all()
        state = ctc_prefix_advance(
            scorer,
            state,
            jnp.zeros((1, 1), jnp.int32),
            jnp.full((1, 1), token),
            jnp.asarray(psi[token]).reshape(1, 1),
        )
        prefix.append(token)


def joint_run(dec, scorer, weight, beam, max_len):
    return attention_beam_search(
        dec.step,
        dec.init(jnp.zeros((beam,), jnp.int32)),
        batch=1,
        beam=beam,
        max_len=max_len,
        ctc_scorer=scorer,
        ctc_weight=weight,
    )


def test_joint_lambda_zero_is_attention_and_one_is_ctc_and_between_mixes():
    vocab, max_len, blank, eos, beam = 6, 3, 4, 2, 160
    dec = TinyDecoder(2, vocab, max_len, sources=1)
    # CTC head that never emits <pad>, <s>, </s>; T=2 frames: <= 2 symbols.
    logits = np.random.default_rng(5).normal(size=(1, 2, vocab)) * 2
    logits[..., [0, 1, eos]] = -np.inf
    lp = np.asarray(jax.nn.log_softmax(logits, axis=-1))
    scorer = CTCPrefixScorer(jnp.asarray(lp), jnp.array([2]), blank=blank)
    att = joint_run(dec, None, 0.0, beam, max_len)
    zero = joint_run(dec, scorer, 0.0, beam, max_len)
    for x, y in zip(att, zero, strict=True):
        np.testing.assert_array_equal(x, y)

    ctc_brute = ctc_brute_force(lp[0], blank)
    one = decoded(*(x[0] for x in joint_run(dec, scorer, 1.0, beam, max_len)))
    assert one == pytest.approx(ctc_brute, abs=1e-5)

    seqs = all_sequences(vocab, max_len, eos)
    att_scores = exhaustive_scores(dec, 0, seqs, bos=1, alpha=0.0, lp_alpha=0.0, rep=1.0)
    att_scores = {strip_eos(s, eos): a for s, a in zip(seqs, att_scores, strict=True)}
    mixed = decoded(*(x[0] for x in joint_run(dec, scorer, 0.3, beam, max_len)))
    assert set(mixed) == set(ctc_brute)  # every other sequence is CTC-impossible
    for seq, s in mixed.items():
        assert s == pytest.approx(0.3 * ctc_brute[seq] + 0.7 * att_scores[seq], abs=1e-4)


def test_rescore_nbest_lambda_extremes():
    lp = random_log_probs(6, (1, 5, 6))
    tokens = jnp.array([[[3, 5, -1], [5, -1, -1], [3, 3, 5]]])
    lens = jnp.array([[2, 1, 3]])
    att = jnp.array([[-1.0, -2.0, -3.0]])
    brute = ctc_brute_force(lp[0], 4)
    ctc = [brute[(3, 5)], brute[(5,)], brute[(3, 3, 5)]]
    _, _, s0 = rescore_nbest(tokens, lens, att, jnp.asarray(lp), jnp.array([5]), ctc_weight=0.0)
    np.testing.assert_allclose(s0[0], [-1.0, -2.0, -3.0])
    t1, _, s1 = rescore_nbest(tokens, lens, att, jnp.asarray(lp), jnp.array([5]), ctc_weight=1.0)
    np.testing.assert_allclose(s1[0], sorted(ctc, reverse=True), rtol=1e-5)
    _, _, sh = rescore_nbest(tokens, lens, att, jnp.asarray(lp), jnp.array([5]), ctc_weight=0.5)
    want = sorted(
        [0.5 * c + 0.5 * a for c, a in zip(ctc, [-1.0, -2.0, -3.0], strict=True)], reverse=True
    )
    np.testing.assert_allclose(sh[0], want, rtol=1e-5)


# ----------------------------------------------------------------------------- greedy
def test_greedy_autoregressive_feeds_each_argmax_back():
    # The decoder's logits at t favour (token at t) + 1 mod V, and only for
    # row 1 read from the prefix: the hand-computed chains follow from BOS.
    vocab = 7

    def decode(tokens):  # tokens [B, L] -> logits [B, L, V]
        row0 = jax.nn.one_hot(jnp.full_like(tokens[:1], 5), vocab)
        row1 = jax.nn.one_hot((tokens[1:] + 1) % vocab, vocab)
        return jnp.concatenate([row0, row1])

    tokens = jax.jit(decoding.greedy_autoregressive, static_argnums=(0, 1, 2))(decode, 2, 5)
    assert tokens.shape == (2, 4)
    np.testing.assert_array_equal(tokens[0], [5, 5, 5, 5])
    np.testing.assert_array_equal(tokens[1], [(BOS_ID + k) % vocab for k in range(1, 5)])


# ----------------------------------------------------------------------------- sampling


def test_sampling_greedy_top_k_and_distribution():
    vocab, max_len, n = 6, 4, 2000
    dec = TinyDecoder(3, vocab, max_len, sources=1)
    state = dec.init(jnp.zeros((n,), jnp.int32))
    key = jax.random.key(0)

    def run(temperature=1.0, top_p=1.0, top_k=None):
        return sample(
            dec.step, state, batch=n, max_len=max_len, rng=key,
            temperature=jnp.float32(temperature), top_p=jnp.float32(top_p), top_k=top_k,
        )  # fmt: skip

    g_tok, _, _ = run(temperature=0.0)
    k_tok, _, _ = run(top_k=1)
    b_tok, _, _ = attention_beam_search(
        dec.step, dec.init(jnp.zeros((1,), jnp.int32)), batch=1, beam=1, max_len=max_len
    )
    np.testing.assert_array_equal(g_tok, k_tok)
    np.testing.assert_array_equal(g_tok[0], b_tok[0, 0])

    first_logits, _ = teacher_forced(dec.step, state, jnp.ones((n, 1), jnp.int32))
    p = np.asarray(jax.nn.softmax(first_logits[0, 0]))
    toks, lens, logp = run()
    first = np.where(lens > 0, toks[:, 0], 2)  # empty output means EOS came first
    freq = np.bincount(np.asarray(first), minlength=vocab) / n
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-3), (freq, p)
    assert np.all(np.asarray(logp) <= 0)

    toks, lens, _ = run(top_p=0.5)
    order = np.argsort(-p)
    keep = order[: np.searchsorted(np.cumsum(p[order]), 0.5) + 1]
    first = np.where(lens > 0, toks[:, 0], 2)
    assert set(np.asarray(first).tolist()) <= set(keep.tolist())


# ----------------------------------------------------------------------------- CSLR model glue


@pytest.mark.slow  # ~20 s, almost all of it building and compiling the CSLR model
def test_decode_cslr_attention_beam_one_is_greedy():
    from flax import nnx

    from configs.models import cslr_config
    from signx_jax.models.cslr import CSLR

    cfg = cslr_config("tiny")
    cfg.use_distillation = False  # the ResNet teacher only slows the compile down
    cfg.enc_layers = cfg.dec_layers = 1
    model = CSLR(cfg, 12, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    latent = jnp.asarray(rng.normal(size=(2, 21, cfg.latent_dim)), jnp.float32)
    mask = jnp.arange(21)[None] < jnp.array([[21], [15]])
    max_len = 5

    @nnx.jit
    def run(m, latent, mask):
        out = m(latent, mask, deterministic=True)
        beam1 = decoding.decode_cslr(m, out, method="attention", beam=1, max_len=max_len)
        # Greedy by hand with the model's own decode_step.
        cache, tok, greedy = m.init_decode_cache(2, max_len), jnp.full((2,), 1, jnp.int32), []
        for t in range(max_len):
            logits, _, cache = m.decode_step(out["enc"], out["enc_mask"], tok, jnp.int32(t), cache)
            tok = jnp.argmax(logits, -1).astype(jnp.int32)
            greedy.append(tok)
        return beam1, jnp.stack(greedy, 1)

    (tokens, lens, _), greedy = run(model, latent, mask)
    for b in range(2):
        g = list(np.asarray(greedy[b]))
        g = g[: g.index(2)] if 2 in g else g
        assert list(np.asarray(tokens[b, 0, : lens[b, 0]])) == g
