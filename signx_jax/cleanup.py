"""Per-dataset gloss clean-up before WER (paper appendix D.1; README "Design").

Two conventions exist for PHOENIX and they give different WERs, so the mode
is always named in reports:

``official`` (default for phoenix2014 and phoenix2014t)
    The RWTH ``evaluation/preprocess.sh`` of the PHOENIX releases: sed/perl
    rules run on the hypothesis CTM, i.e. one gloss per line; references (the
    STM) are untouched. Per gloss: strip ``loc-``, ``cl-``, ``qu-``,
    ``poss-``, ``lh-``; S0NNE -> SONNE, HABEN2 -> HABEN; delete
    ``__EMOTION__``, ``__PU__``, ``__LEFTHAND__``; a gloss ending in ZEIGEN
    gets ``-BILDSCHIRM``; ``([A-Z][A-Z])RAUM`` -> ``\\1``; drop
    ``-PLUSPLUS``; drop glosses containing ``__EPENTHESIS__``; drop glosses
    left empty. The script's multi-gloss rules (WIE AUSSEHEN -> WIE-AUSSEHEN,
    single letters A B -> A+B, collapsing repeated glosses) cannot match
    inside one CTM line and so never fire. An utterance left empty is scored
    as the single word ``[EMPTY]`` (the script's awk step; we also do it for
    the last utterance of a file, which the awk step misses).
    Note: on PHOENIX-2014T the references keep ``poss-EUCH`` and ``HABEN2``,
    so in this mode a hypothesis can never match them (as with the official
    script).

``sentence``
    Python ports of ``clean_phoenix_2014`` / ``clean_phoenix_2014_trans``
    (neccam/slt ``phoenix_cleanup.py``, reused by most SLT codebases),
    applied to hypothesis and reference sentences. phoenix2014: the token
    rules above (no ``__EPENTHESIS__`` rule) plus WIE-AUSSEHEN, letter
    joining and repeat collapsing. phoenix2014t: drops every ``__X__``
    token, strips ``loc-`` / ``cl-`` / ``-PLUSPLUS`` / ``RAUM`` suffixes and
    joins letters / collapses repeats, but keeps ``poss-``, ``qu-``,
    ``lh-``, S0NNE, HABEN2 and does not touch ZEIGEN.

``none``: identity (CSL-Daily, ASLLRP, synthetic).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Sequence

Tokens = list[str]
EMPTY = "[EMPTY]"

# ----------------------------------------------------------------------------- official (CTM)

# (pattern, replacement, count) in the order of preprocess.sh; count 0 = sed's /g.
_OFFICIAL_GLOSS_RULES: tuple[tuple[str, str, int], ...] = (
    (r"loc-", "", 0),
    (r"cl-", "", 0),
    (r"qu-", "", 0),
    (r"poss-", "", 0),
    (r"lh-", "", 0),
    (r"S0NNE", "SONNE", 0),
    (r"HABEN2", "HABEN", 0),
    (r"__EMOTION__", "", 0),
    (r"__PU__", "", 0),
    (r"__LEFTHAND__", "", 0),
    (r"ZEIGEN$", "ZEIGEN-BILDSCHIRM", 1),  # '$' = end of the CTM line = end of the gloss
    (r"([A-Z][A-Z])RAUM", r"\1", 0),
    (r"-PLUSPLUS", "", 0),
)
_OFFICIAL_DROP = ("__LEFTHAND__", "__EPENTHESIS__", "__EMOTION__")  # grep -v


def official_gloss(gloss: str) -> str:
    """preprocess.sh on one CTM word; '' means the line is dropped."""
    for pattern, repl, count in _OFFICIAL_GLOSS_RULES:
        gloss = re.sub(pattern, repl, gloss, count=count)
    if any(marker in gloss for marker in _OFFICIAL_DROP):
        return ""
    return gloss.strip()


def official_hypothesis(tokens: Sequence[str]) -> Tokens:
    """preprocess.sh on one utterance's CTM lines; empty -> [EMPTY]."""
    out = [g for g in (official_gloss(t) for t in tokens) if g]
    return out or [EMPTY]


# ----------------------------------------------------------------------------- sentence ports

_LETTER_JOIN = (
    (r"^([A-Z]) ([A-Z][+ ])", r"\1+\2"),
    (r"[ +]([A-Z]) ([A-Z]) ", r" \1+\2 "),
    (r"([ +][A-Z]) ([A-Z][ +])", r"\1+\2"),
    (r"([ +][A-Z]) ([A-Z][ +])", r"\1+\2"),
    (r"([ +][A-Z]) ([A-Z][ +])", r"\1+\2"),
    (r"([ +]SCH) ([A-Z][ +])", r"\1+\2"),
    (r"([ +]NN) ([A-Z][ +])", r"\1+\2"),
    (r"([ +][A-Z]) (NN[ +])", r"\1+\2"),
    (r"([ +][A-Z]) ([A-Z])$", r"\1+\2"),
)
# An all-caps gloss followed by itself (not part of a hyphenated gloss).
_REPEAT = re.compile(r"(?<![\w-])(\b[A-Z]+(?![\w-])) \1(?![\w-])")


def _collapse(sentence: str) -> str:
    sentence = re.sub(r" +", " ", sentence)
    for _ in range(4):  # the scripts apply the perl rule four times
        sentence = _REPEAT.sub(r"\1", sentence)
    sentence = re.sub(r" +", " ", sentence)
    # Finally drop any remaining consecutive duplicate (hyphenated glosses too).
    return " ".join(g for g, _ in itertools.groupby(sentence.split()))


def clean_phoenix_2014(sentence: str) -> str:
    """Port of clean_phoenix_2014 (PHOENIX-2014, recognition)."""
    s = sentence.strip()
    for pattern, repl in (
        (r"loc-", ""),
        (r"cl-", ""),
        (r"qu-", ""),
        (r"poss-", ""),
        (r"lh-", ""),
        (r"S0NNE", "SONNE"),
        (r"HABEN2", "HABEN"),
        (r"__EMOTION__", ""),
        (r"__PU__", ""),
        (r"__LEFTHAND__", ""),
        (r"WIE AUSSEHEN", "WIE-AUSSEHEN"),
        (r"ZEIGEN ", "ZEIGEN-BILDSCHIRM "),
        (r"ZEIGEN$", "ZEIGEN-BILDSCHIRM"),
        *_LETTER_JOIN,
        (r"([A-Z][A-Z])RAUM", r"\1"),
        (r"-PLUSPLUS", ""),
    ):
        s = re.sub(pattern, repl, s)
    return _collapse(s)


def clean_phoenix_2014_trans(sentence: str) -> str:
    """Port of clean_phoenix_2014_trans (PHOENIX-2014T)."""
    s = sentence.strip()
    for pattern, repl in (
        (r"__LEFTHAND__", ""),
        (r"__EPENTHESIS__", ""),
        (r"__EMOTION__", ""),
        (r"\b__[^_ ]*__\b", ""),
        (r"\bloc-([^ ]*)\b", r"\1"),
        (r"\bcl-([^ ]*)\b", r"\1"),
        (r"\b([^ ]*)-PLUSPLUS\b", r"\1"),
        (r"\b([A-Z][A-Z]*)RAUM\b", r"\1"),
        (r"WIE AUSSEHEN", "WIE-AUSSEHEN"),
        *_LETTER_JOIN,
    ):
        s = re.sub(pattern, repl, s)
    return _collapse(s)


# ----------------------------------------------------------------------------- registry


def _identity(tokens: Sequence[str]) -> Tokens:
    return list(tokens)


def _sentence_fn(fn: Callable[[str], str]) -> Callable[[Sequence[str]], Tokens]:
    return lambda tokens: fn(" ".join(tokens)).split()


@dataclasses.dataclass(frozen=True)
class Cleanup:
    """A named clean-up: ``ref`` and ``hyp`` map one token list to another."""

    name: str
    ref: Callable[[Sequence[str]], Tokens]
    hyp: Callable[[Sequence[str]], Tokens]

    def __call__(
        self, refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]
    ) -> tuple[list[Tokens], list[Tokens]]:
        return [self.ref(r) for r in refs], [self.hyp(h) for h in hyps]


DEFAULT_MODE = {"phoenix2014": "official", "phoenix2014t": "official"}


def canonical_dataset(dataset: str) -> str:
    """'PHOENIX-2014-T', 'phoenix2014T' -> 'phoenix2014t'; 'CSL-Daily' -> 'csldaily'."""
    return re.sub(r"[-_ ]", "", dataset.lower())


def get_cleanup(dataset: str, mode: str | None = None) -> Cleanup:
    """Clean-up for ``dataset`` in ``mode`` (official | sentence | none; None = default)."""
    name = canonical_dataset(dataset)
    mode = mode or DEFAULT_MODE.get(name, "none")
    if mode == "none":
        return Cleanup(f"{name}/none", _identity, _identity)
    if name not in DEFAULT_MODE:
        raise ValueError(f"cleanup: mode {mode!r} is only defined for PHOENIX, not {dataset!r}")
    if mode == "official":
        return Cleanup(f"{name}/official", _identity, official_hypothesis)
    if mode == "sentence":
        fn = clean_phoenix_2014_trans if name == "phoenix2014t" else clean_phoenix_2014
        return Cleanup(f"{name}/sentence", _sentence_fn(fn), _sentence_fn(fn))
    raise ValueError(f"cleanup: unknown mode {mode!r} (official | sentence | none)")
