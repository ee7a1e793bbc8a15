"""STM references and CTM hypotheses, the files sclite scores (README "Design").

STM line: ``<id> <channel> <speaker> <start> <end> <word> <word> ...`` (one
utterance per line; the PHOENIX ground truth uses channel 1, the signer as
speaker, start 0.0 and end 1.79769e+308). CTM line:
``<id> <channel> <start> <duration> <word>`` (one word per line, the way the
RWTH evaluation scripts and ``preprocess.sh`` expect hypotheses). Lines
starting with ';;' are comments in both formats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

STM_OPEN_END = "1.79769e+308"  # what the PHOENIX STM files use for "until the end"


@dataclasses.dataclass(frozen=True)
class StmRecord:
    utt_id: str
    channel: str
    speaker: str
    start: float
    end: float
    words: list[str]


def _lines(path: str | Path) -> Iterable[tuple[int, list[str]]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.startswith(";;"):
                yield number, line.split()


def read_stm(path: str | Path) -> list[StmRecord]:
    """All utterances of an STM file, in file order."""
    out = []
    for number, fields in _lines(path):
        if len(fields) < 5:
            raise ValueError(f"{path}:{number}: STM needs '<id> <ch> <spk> <start> <end> words'")
        utt, channel, speaker, start, end, *words = fields
        out.append(StmRecord(utt, channel, speaker, float(start), float(end), words))
    return out


def write_stm(
    path: str | Path,
    utterances: Iterable[tuple[str, Iterable[str]]],
    *,
    speakers: dict[str, str] | None = None,
    channel: str = "1",
) -> None:
    """Write (id, words) pairs as an STM file (speaker 'Signer' unless given)."""
    with open(path, "w", encoding="utf-8") as f:
        for utt, words in utterances:
            speaker = (speakers or {}).get(utt, "Signer")
            f.write(f"{utt} {channel} {speaker} 0.0 {STM_OPEN_END} {' '.join(words)}\n")


def read_ctm(path: str | Path) -> dict[str, list[str]]:
    """{id: words ordered by start time}; ids keep their first-seen order."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for number, fields in _lines(path):
        if len(fields) < 5:
            raise ValueError(f"{path}:{number}: CTM needs '<id> <ch> <start> <dur> <word>'")
        utt, _, start, _, word = fields[:5]
        rows.setdefault(utt, []).append((float(start), number, word))
    return {utt: [w for _, _, w in sorted(r)] for utt, r in rows.items()}


def write_ctm(
    path: str | Path,
    utterances: Iterable[tuple[str, Iterable[str]]],
    *,
    frame_seconds: float = 0.01,
    channel: str = "1",
) -> None:
    """Write (id, words) as CTM with one word per line and dummy consecutive
    timings of ``frame_seconds`` each. An utterance without words writes no line."""
    with open(path, "w", encoding="utf-8") as f:
        for utt, words in utterances:
            for k, word in enumerate(words):
                f.write(f"{utt} {channel} {k * frame_seconds:.3f} {frame_seconds:.3f} {word}\n")
