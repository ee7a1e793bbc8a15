"""Evaluation metrics of paper appendix D.1.

- ``wer``: (S + D + I) / N with sclite's alignment costs (correct 0,
  substitution 4, insertion 3, deletion 3), or unit costs (Levenshtein,
  what jiwer computes). Per-sentence alignments are kept for the report.
- ``bleu``: BLEU-1..4 through sacrebleu, as the SLT codebases compute it.
- ``rouge_l``: sentence-level ROUGE-L F(beta = 1.2), averaged over sentences.
- ``top1_accuracy``: per-instance (micro) and per-class (macro) top-1
  accuracy for isolated recognition.

Why sclite and unit costs can disagree: both pick a minimum-cost
alignment, but sclite minimises 4S + 3D + 3I while Levenshtein minimises
S + D + I. Since D - I = len(ref) - len(hyp) is fixed, sclite prefers
trading substitutions for deletion + insertion pairs whenever that buys
matches: ref "A B C X Y" vs hyp "X Y P Q R" is 5 substitutions for unit costs
(5 errors, cost 20 for sclite) but D D D C C I I I for sclite (6 errors,
cost 18). So the sclite error count is >= the Levenshtein distance, and
equal alignments can still split the same count differently into S/D/I
(ref "A B" vs hyp "B C": S S for jiwer's tie-breaking, D C I for sclite).
Ties between equal-cost alignments follow sclite (NIST SCTK, the PHOENIX
scorer of the paper's appendix D.1), because they change the error count,
not only its split: every cell of the DP table keeps match/substitution if
it is no worse than deletion and insertion, else deletion only if strictly
cheaper than insertion; the alignment is read back from the end of the
sentences. Ref "REGEN REGEN REGEN WOLKE SONNE" vs hyp "WOLKE SONNE SONNE
WOLKE" costs 15 both as S S S C D (4 errors) and as D D D C I C I (5
errors); sclite reports the second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer

COSTS = {"sclite": (4, 3, 3), "unit": (1, 1, 1)}  # (sub, del, ins); correct costs 0


@dataclasses.dataclass(frozen=True)
class Alignment:
    """One sentence: ops is a list of (mark, ref token or None, hyp token or None),
    mark in C (correct), S, D, I."""

    ops: list[tuple[str, str | None, str | None]]
    sub: int
    dele: int
    ins: int
    n_ref: int

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins


@dataclasses.dataclass(frozen=True)
class WerResult:
    """Corpus totals (python ints, no overflow) and per-sentence alignments."""

    sub: int
    dele: int
    ins: int
    n_ref: int
    alignments: list[Alignment]

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def wer(self) -> float:
        """Fraction, not percent; inf when there are no reference words."""
        return self.errors / self.n_ref if self.n_ref else float("inf")

    def as_dict(self) -> dict:
        return dict(
            wer=100.0 * self.wer, sub=self.sub, dele=self.dele, ins=self.ins, n_ref=self.n_ref
        )


def _cost_matrix(ref: Sequence[str], hyp: Sequence[str], costs: tuple[int, int, int]):
    """DP table D[i, j] = min cost of aligning ref[:i] with hyp[:j], int64 [n+1, m+1].

    Rows are vectorised: with a constant insertion cost c_i,
    D[i, j] = min_{j' <= j} (A[j'] + c_i (j - j')), where A is the best over
    substitution/match and deletion, so D[i] = c_i j + cummin(A - c_i j).
    """
    c_sub, c_del, c_ins = costs
    vocab = {w: k for k, w in enumerate(dict.fromkeys([*ref, *hyp]))}
    r = np.array([vocab[w] for w in ref], np.int64)
    h = np.array([vocab[w] for w in hyp], np.int64)
    n, m = len(r), len(h)
    cols = np.arange(m + 1, dtype=np.int64)
    table = np.empty((n + 1, m + 1), np.int64)
    table[0] = cols * c_ins
    for i in range(1, n + 1):
        prev = table[i - 1]
        a = prev + c_del
        a[1:] = np.minimum(a[1:], prev[:-1] + np.where(h == r[i - 1], 0, c_sub))
        table[i] = np.minimum.accumulate(a - c_ins * cols) + c_ins * cols
    return table, r, h


def align(ref: Sequence[str], hyp: Sequence[str], costs: str = "sclite") -> Alignment:
    """Minimum-cost alignment of one sentence pair (see module docstring for ties)."""
    c_sub, c_del, c_ins = cost = COSTS[costs]
    table, r, h = _cost_matrix(ref, hyp, cost)
    i, j, ops = len(ref), len(hyp), []
    while i > 0 or j > 0:
        here = table[i, j]
        if i > 0 and j > 0:
            same = r[i - 1] == h[j - 1]
            if here == table[i - 1, j - 1] + (0 if same else c_sub):
                ops.append(("C" if same else "S", ref[i - 1], hyp[j - 1]))
                i, j = i - 1, j - 1
                continue
        if j > 0 and here == table[i, j - 1] + c_ins:
            ops.append(("I", None, hyp[j - 1]))
            j -= 1
        else:
            ops.append(("D", ref[i - 1], None))
            i -= 1
    ops.reverse()
    count = lambda mark: sum(op[0] == mark for op in ops)
    return Alignment(ops, count("S"), count("D"), count("I"), len(ref))


def wer(
    refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]], *, costs: str = "sclite"
) -> WerResult:
    """Corpus WER of token lists; refs[i] and hyps[i] are lists of glosses."""
    if len(refs) != len(hyps):
        raise ValueError(f"wer: {len(refs)} references but {len(hyps)} hypotheses")
    if costs not in COSTS:
        raise ValueError(f"wer: costs must be one of {sorted(COSTS)}, got {costs!r}")
    alignments = [align(list(r), list(h), costs) for r, h in zip(refs, hyps, strict=True)]
    return WerResult(
        sub=sum(a.sub for a in alignments),
        dele=sum(a.dele for a in alignments),
        ins=sum(a.ins for a in alignments),
        n_ref=sum(a.n_ref for a in alignments),
        alignments=alignments,
    )


def _char_split(text: str) -> str:
    """Chinese character-level tokens: every non-space character is a token."""
    return " ".join(ch for ch in text if not ch.isspace())


def bleu(refs: Sequence[str], hyps: Sequence[str], *, chinese_chars: bool = False) -> dict:
    """Corpus BLEU-1..4 (cumulative, uniform weights, percent) via sacrebleu.

    As signjoey's ``raw_corpus_bleu``: no tokenisation (glosses and German
    are already space-tokenised), 'floor' smoothing 0.1, effective order.
    ``chinese_chars`` scores characters (CSL-Daily).
    """
    if chinese_chars:
        refs, hyps = [_char_split(r) for r in refs], [_char_split(h) for h in hyps]
    out = {}
    for order in range(1, 5):
        metric = sacrebleu.metrics.BLEU(
            tokenize="none",
            smooth_method="floor",
            smooth_value=0.1,
            effective_order=True,
            max_ngram_order=order,
        )
        out[f"bleu{order}"] = metric.corpus_score(list(hyps), [list(refs)]).score
    return out


class _WhitespaceTokenizer:
    """rouge-score's default tokenizer lowercases and drops '-', '+', '/':
    glosses (poss-EUCH, TEACH+AGENT) must stay whole."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


def rouge_l(
    refs: Sequence[str], hyps: Sequence[str], *, beta: float = 1.2, chinese_chars: bool = False
) -> float:
    """Sentence-level ROUGE-L F_beta averaged over sentences, percent.

    The LCS precision P and recall R come from rouge-score; the combination
    is the one of the SLT codebases (signjoey's mscoco rouge, beta = 1.2):
    F = (1 + beta^2) P R / (R + beta^2 P), 0 when P or R is 0.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"rouge_l: {len(refs)} references but {len(hyps)} hypotheses")
    if chinese_chars:
        refs, hyps = [_char_split(r) for r in refs], [_char_split(h) for h in hyps]
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_WhitespaceTokenizer())
    total = 0.0
    for ref, hyp in zip(refs, hyps, strict=True):
        s = scorer.score(ref, hyp)["rougeL"]
        p, r = s.precision, s.recall
        if p > 0 and r > 0:
            total += (1 + beta**2) * p * r / (r + beta**2 * p)
    return 100.0 * total / max(len(refs), 1)


def top1_accuracy(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> dict:
    """Per-instance (micro) and per-class (macro over classes present) top-1, percent."""
    labels, preds = np.asarray(labels, np.int64), np.asarray(preds, np.int64)
    correct = labels == preds
    count = np.bincount(labels, minlength=num_classes)
    hit = np.bincount(labels, weights=correct, minlength=num_classes)
    present = count > 0
    return dict(
        per_instance=100.0 * float(correct.mean()) if len(labels) else 0.0,
        per_class=100.0 * float((hit[present] / count[present]).mean()) if present.any() else 0.0,
    )
