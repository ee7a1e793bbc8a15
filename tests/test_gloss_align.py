"""GlossAlign: span assignment by hand, CTC Viterbi against brute-force enumeration."""

import itertools

import jax
import numpy as np
import pytest

from signx_jax import gloss_align

PAD = 0  # label padding used by the input pipeline (schema.PAD_ID)


# -- frames_from_spans --------------------------------------------------------
_from_spans = jax.jit(gloss_align.frames_from_spans, static_argnums=3)


def test_frames_from_spans_hand_computed():
    # Row 0: spans [1,3) -> gloss 7, [6,8) -> gloss 9 over T=10 frames.
    #   frame 0: before the first span -> 7; frames 1,2 inside -> 7;
    #   frame 3: 1 from [1,3), 3 from [6,8) -> 7; frame 5: 3 vs 1 -> 9;
    #   frames 6,7 inside -> 9; frames 8,9 after the last span -> 9.
    # Row 1: label_length 3, one span [2,5) -> 11, [5,6) -> 12, [9,10) -> 13.
    # Row 2: no spans at all -> every frame -1.
    spans = np.full((3, 3, 2), -1, np.int32)
    spans[0, :2] = [[1, 3], [6, 8]]
    spans[1] = [[2, 5], [5, 6], [9, 10]]
    labels = np.array([[7, 9, PAD], [11, 12, 13], [5, 6, PAD]], np.int32)
    label_lengths = np.array([2, 3, 2], np.int32)
    got = np.asarray(_from_spans(spans, labels, label_lengths, 10))
    want = np.array(
        [
            [7, 7, 7, 7, -2, 9, 9, 9, 9, 9],  # -2: frame 4 is a tie (2 vs 2)
            [11, 11, 11, 11, 11, 12, 12, 12, 13, 13],  # frame 7: 2 vs 2 tie
            [-1] * 10,
        ]
    )
    want[1, 7] = -2
    ties = want == -2
    np.testing.assert_array_equal(got[~ties], want[~ties])
    # A transition frame equidistant from two spans takes one of the two.
    assert got[0, 4] in (7, 9)
    assert got[1, 7] in (12, 13)


def test_frames_from_spans_ignores_spans_beyond_label_length():
    # The second span is padding (label_length 1): it must not attract frames.
    spans = np.array([[[0, 2], [6, 8]]], np.int32)
    labels = np.array([[3, 8]], np.int32)
    got = np.asarray(_from_spans(spans, labels, np.array([1]), 8))
    np.testing.assert_array_equal(got, np.full((1, 8), 3))


def test_frames_from_spans_random_against_brute_force():
    rng = np.random.default_rng(0)
    num_t, max_l = 24, 4
    for _ in range(5):
        b = 3
        spans = np.full((b, max_l, 2), -1, np.int32)
        labels = np.full((b, max_l), PAD, np.int32)
        lengths = rng.integers(1, max_l + 1, size=b).astype(np.int32)
        for row in range(b):
            # Disjoint ordered spans; a tie between two spans accepts either.
            edges = np.sort(rng.choice(np.arange(0, num_t, 2), 2 * lengths[row], replace=False))
            spans[row, : lengths[row]] = edges.reshape(-1, 2) + [0, 1]
            labels[row, : lengths[row]] = rng.integers(5, 50, lengths[row])
        got = np.asarray(_from_spans(spans, labels, lengths, num_t))
        for row in range(b):
            for t in range(num_t):
                dists = []
                for k in range(lengths[row]):
                    s, e = spans[row, k]
                    dists.append(0 if s <= t < e else min(abs(t - s), abs(t - (e - 1))))
                best = [k for k, d in enumerate(dists) if d == min(dists)]
                assert got[row, t] in {labels[row, k] for k in best}, (row, t, dists)


# -- CTC forced alignment -----------------------------------------------------
def _brute_force_positions(log_probs, labels, blank):
    """Best path over all V^T paths that collapse to ``labels`` -> label position per frame.

    A blank frame takes the position of the last emitted label (0 before any).
    """
    num_t, vocab = log_probs.shape
    best, best_score = None, -np.inf
    for path in itertools.product(range(vocab), repeat=num_t):
        collapsed, positions, prev = [], [], None
        for sym in path:
            if sym != blank and sym != prev:
                collapsed.append(sym)
            positions.append(max(len(collapsed) - 1, 0))
            prev = sym
        if collapsed != list(labels):
            continue
        score = sum(log_probs[t, s] for t, s in enumerate(path))
        if score > best_score:
            best, best_score = positions, score
    assert best is not None, "reference not reachable in T frames"
    return np.array(best)


# One compiled program per vocabulary size: every CTC case is padded to these
# shapes and ``blank`` is traced (callers pass it static; the math is the same).
_B, _T, _L = 4, 7, 4
_align_jit = jax.jit(
    lambda lp, n, y, ny, blank: gloss_align.ctc_forced_align(lp, n, y, ny, blank=blank)
)


def _align(log_probs, lengths, labels, label_lengths, blank):
    b, t, v = log_probs.shape
    lp = np.zeros((_B, _T, v), np.float32)
    lp[:b, :t] = log_probs
    y = np.full((_B, _L), PAD, np.int32)
    y[:b, : labels.shape[1]] = labels
    n, ny = np.zeros(_B, np.int32), np.zeros(_B, np.int32)
    n[:b], ny[:b] = lengths, label_lengths
    out = np.asarray(_align_jit(lp, n, y, ny, np.int32(blank)))
    np.testing.assert_array_equal(out[:, t:], -1)  # frames past max T: padding
    np.testing.assert_array_equal(out[b:], -1)  # empty rows: padding
    return out[:b, :t]


def _random_log_probs(rng, b, t, v):
    logits = rng.normal(size=(b, t, v)) * 2.0
    return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)


@pytest.mark.parametrize(
    "vocab,blank,refs,lengths",
    [
        # V=4, blank last; full-length rows, one of them needing a blank (A A).
        (4, 3, [[0, 1], [2, 2], [1, 0, 2]], [6, 6, 6]),
        # V=6 with blank id 4 (schema.BLANK_ID); variable lengths and padding.
        (6, 4, [[1, 5], [3, 3], [2], [5, 1, 5]], [5, 4, 3, 5]),
        # Single frames and the tightest fit: A A in exactly 3 frames.
        (4, 0, [[1], [2, 2], [3, 1, 3]], [1, 3, 6]),
    ],
)
def test_ctc_forced_align_matches_brute_force(vocab, blank, refs, lengths):
    rng = np.random.default_rng(vocab * 10 + blank)
    max_t, max_l = max(lengths) + 1, max(map(len, refs)) + 1  # +1: always some padding
    b = len(refs)
    for trial in range(3):
        log_probs = _random_log_probs(rng, b, max_t, vocab)
        labels = np.full((b, max_l), PAD, np.int32)
        for row, ref in enumerate(refs):
            labels[row, : len(ref)] = ref
        label_lengths = np.array([len(r) for r in refs], np.int32)
        t_lengths = np.array(lengths, np.int32)
        got = _align(log_probs, t_lengths, labels, label_lengths, blank)
        assert got.shape == (b, max_t)
        for row, ref in enumerate(refs):
            n = lengths[row]
            want = _brute_force_positions(log_probs[row, :n], ref, blank)
            np.testing.assert_array_equal(
                got[row, :n], want, err_msg=f"trial {trial} row {row} ref {ref}"
            )
            np.testing.assert_array_equal(got[row, n:], -1)


def test_ctc_forced_align_prefers_blank_between_repeats():
    # Posteriors strongly favour "A" at every frame; the reference A A must
    # still put a blank between the two A's (else it would collapse to one A).
    blank, a = 4, 2
    log_probs = np.full((1, 5, 6), np.log(0.01), np.float32)
    log_probs[0, :, a] = np.log(0.95)
    # Small noise breaks the tie over where the blank goes.
    log_probs += np.random.default_rng(2).normal(scale=0.1, size=log_probs.shape).astype(np.float32)
    labels = np.array([[a, a]], np.int32)
    got = _align(log_probs, np.array([5]), labels, np.array([2]), blank)
    want = _brute_force_positions(log_probs[0], [a, a], blank)
    np.testing.assert_array_equal(got[0], want)
    assert want[0] == 0 and want[-1] == 1


def test_ctc_forced_align_empty_reference_is_all_padding():
    log_probs = _random_log_probs(np.random.default_rng(1), 1, 4, 6)
    got = _align(log_probs, np.array([4]), np.zeros((1, 2), np.int32), np.array([0]), 4)
    np.testing.assert_array_equal(got, -1)


def test_frames_from_ctc_upsamples_gloss_ids():
    # CTC runs at T/4: 5 CTC frames, 20 input frames. Labels are gloss ids.
    rng = np.random.default_rng(3)
    blank, vocab = 4, 6
    refs = [[1, 5, 3], [2, 2]]
    ctc_lengths = np.array([5, 4], np.int32)
    log_probs = _random_log_probs(rng, 2, 5, vocab)
    labels = np.array([[1, 5, 3], [2, 2, PAD]], np.int32)
    label_lengths = np.array([3, 2], np.int32)
    from_ctc = jax.jit(gloss_align.frames_from_ctc, static_argnames=("num_frames", "blank"))
    got = np.asarray(
        from_ctc(log_probs, ctc_lengths, labels, label_lengths, num_frames=20, blank=blank)
    )
    assert got.shape == (2, 20)
    for row, ref in enumerate(refs):
        n = ctc_lengths[row]
        pos = _brute_force_positions(log_probs[row, :n], ref, blank)
        want = np.full(20, -1)
        want[: 4 * n] = np.repeat(np.asarray(ref)[pos], 4)  # each CTC frame covers 4 frames
        np.testing.assert_array_equal(got[row], want, err_msg=f"row {row}")
