"""Text side of the synthetic corpus: gloss sentences (README "Design").

Two sources of gloss sentences:

- the built-in lexicon (57 ASL-style glosses) with a small random grammar
  (topic-comment, verb-final, optional time / negation / wh-word); sentences
  of 2-6 glosses;
- STM annotation files (``<id> <channel> <signer> <start> <end> <glosses...>``,
  plain or gzipped), e.g. the PHOENIX-2014T ground truth shipped in ``text/``
  (``text/NOTICE.md``: its terms), so sentence lengths, gloss frequencies and
  sentence repetition are those of a real dataset. ``top_glosses`` shrinks such a
  text side to its K most frequent train glosses (the vocabulary-size knob).
"""

from __future__ import annotations

import collections
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

# gloss -> (part of speech, English base form, past form). Pronouns carry
# (subject form, object form) and person in place of the verb forms.
LEXICON: dict[str, tuple[str, ...]] = {
    "IX-1": ("pron", "i", "me", "1"),
    "IX-2": ("pron", "you", "you", "2"),
    "IX-3": ("pron", "he", "him", "3"),
    "WE": ("pron", "we", "us", "p"),
    "THEY": ("pron", "they", "them", "p"),
    **{g: ("noun", g.lower()) for g in "BOOK CAR DOG CAT FRIEND TEACHER DOCTOR MOVIE".split()},
    **{g: ("noun", g.lower()) for g in "LETTER CHILD MOTHER FATHER APPLE".split()},
    **{g: ("place", g.lower()) for g in "SCHOOL STORE HOUSE".split()},
    **{g: ("mass", g.lower()) for g in "WATER COFFEE FOOD".split()},
    "LIKE": ("verb", "like", "liked"),
    "WANT": ("verb", "want", "wanted"),
    "SEE": ("verb", "see", "saw"),
    "HAVE": ("verb", "have", "had"),
    "EAT": ("verb", "eat", "ate"),
    "DRINK": ("verb", "drink", "drank"),
    "READ": ("verb", "read", "read"),
    "BUY": ("verb", "buy", "bought"),
    "HELP": ("verb", "help", "helped"),
    "LOVE": ("verb", "love", "loved"),
    "KNOW": ("verb", "know", "knew"),
    "MEET": ("verb", "meet", "met"),
    "GO": ("motion", "go", "went"),
    "COME": ("motion", "come", "came"),
    "WORK": ("intrans", "work", "worked"),
    "SLEEP": ("intrans", "sleep", "slept"),
    **{g: ("adj", g.lower()) for g in "BIG SMALL GOOD BAD NEW OLD HAPPY TIRED HUNGRY".split()},
    "YESTERDAY": ("time", "yesterday", "past"),
    "TOMORROW": ("time", "tomorrow", "future"),
    "NOW": ("time", "now", "present"),
    "TODAY": ("time", "today", "present"),
    "NOT": ("neg", "not"),
    "WHERE": ("wh", "where"),
    "WHAT": ("wh", "what"),
    "WHO": ("wh", "who"),
}
ANIMATE = ("CAT", "CHILD", "DOCTOR", "DOG", "FATHER", "FRIEND", "MOTHER", "TEACHER")
# Selectional restrictions keep sentences plausible (and the text predictable).
VERB_OBJECTS: dict[str, tuple[str, ...]] = {
    "EAT": ("APPLE", "FOOD"),
    "DRINK": ("WATER", "COFFEE"),
    "READ": ("BOOK", "LETTER"),
    "BUY": ("BOOK", "CAR", "HOUSE", "APPLE", "FOOD", "COFFEE"),
}


def _pos(pos: str) -> list[str]:
    return sorted(g for g, entry in LEXICON.items() if entry[0] == pos)


def builtin_vocabulary() -> list[str]:
    """All glosses of the built-in lexicon, sorted."""
    return sorted(LEXICON)


def _choice(rng: np.random.Generator, items: list[str] | tuple[str, ...]) -> str:
    return str(items[rng.integers(len(items))])


def _sample_once(rng: np.random.Generator) -> list[str]:
    """One sentence of the built-in grammar (gloss order: TIME SUBJ OBJ VERB NEG)."""
    time = [_choice(rng, _pos("time"))] if rng.random() < 0.4 else []
    neg = ["NOT"] if rng.random() < 0.2 else []
    kind = rng.choice(
        ["transitive", "motion", "intransitive", "adjective", "wh"], p=[0.4, 0.15, 0.1, 0.15, 0.2]
    )
    nouns = _pos("noun") + _pos("mass") + _pos("place")
    # Only people and animals act; anything can be described.
    subject = _choice(rng, _pos("pron") + (_pos("noun") if kind == "adjective" else list(ANIMATE)))
    if kind == "transitive":
        verb = _choice(rng, _pos("verb"))
        obj = _choice(rng, VERB_OBJECTS.get(verb, nouns + _pos("pron")))
        adj = [_choice(rng, _pos("adj"))] if obj in nouns and rng.random() < 0.25 else []
        return time + [subject, obj] + adj + [verb] + neg
    if kind == "motion":
        return time + [subject, _choice(rng, _pos("place")), _choice(rng, _pos("motion"))] + neg
    if kind == "intransitive":
        return time + [subject, _choice(rng, _pos("intrans"))] + neg
    if kind == "adjective":
        return time + [subject, _choice(rng, _pos("adj"))] + neg
    wh = _choice(rng, _pos("wh"))
    if wh == "WHERE":
        return time + [subject, _choice(rng, _pos("motion") + _pos("intrans")), "WHERE"]
    if wh == "WHAT":
        return time + [
            subject,
            _choice(rng, ["LIKE", "WANT", "SEE", "HAVE", "BUY", "READ"]),
            "WHAT",
        ]
    verb = _choice(rng, _pos("verb"))
    return time + ["WHO", _choice(rng, VERB_OBJECTS.get(verb, nouns)), verb]


def sample_sentence(rng: np.random.Generator, min_len: int, max_len: int) -> list[str]:
    """A built-in grammar sentence with min_len <= length <= max_len glosses."""
    for _ in range(1000):
        sentence = _sample_once(rng)
        if min_len <= len(sentence) <= max_len:
            return sentence
    raise ValueError(f"grammar.py: no sentence of {min_len}-{max_len} glosses in 1000 draws")


# --- STM files -------------------------------------------------------------


def parse_stm_line(line: str, where: str = "<stm>") -> dict | None:
    """``<id> <channel> <signer> <start> <end> <glosses...>`` -> dict, None for blank/comment."""
    line = line.strip()
    if not line or line.startswith(";;"):
        return None
    fields = line.split()
    if len(fields) < 6:
        raise ValueError(f"{where}: expected '<id> <channel> <signer> <start> <end> <glosses...>'")
    return {
        "id": fields[0],
        "channel": fields[1],
        "signer": fields[2],
        "start": float(fields[3]),
        "end": float(fields[4]),
        "glosses": fields[5:],
    }


def read_stm(path: str | os.PathLike) -> list[dict]:
    """All sentences of an STM file, in file order."""
    out = []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            row = parse_stm_line(line, f"{path}:{lineno}")
            if row is not None:
                out.append(row)
    if not out:
        raise ValueError(f"{path}: no STM sentences")
    return out


TEXT_DIR = Path(__file__).resolve().parent / "text"  # shipped gloss text (NOTICE.md)


def phoenix2014t_files(reference_dir: str = "") -> dict[str, Path]:
    """The PHOENIX-2014T train / dev STMs: in ``reference_dir`` when given (plain or
    gzipped), else the copy shipped in ``text/``."""
    folder = Path(reference_dir) if reference_dir else TEXT_DIR
    files = {}
    for split in ("train", "dev"):
        path = folder / f"phoenix2014-T-groundtruth-{split}.stm"
        files[split] = path if path.exists() else path.with_name(path.name + ".gz")
    return files


def top_glosses(splits: dict[str, list[dict]], k: int, min_len: int = 1) -> dict[str, list[dict]]:
    """Every split restricted to the ``k`` most frequent train glosses (ties: the
    alphabetically first): other glosses are left out of each sentence, and a
    sentence left with fewer than ``min_len`` glosses is dropped. Sentence order
    and repetition stay those of the annotation. ``k`` <= 0: unchanged."""
    if k <= 0:
        return splits
    counts = collections.Counter(g for r in splits["train"] for g in r["glosses"])
    keep = {g for g, _ in sorted(counts.items(), key=lambda gc: (-gc[1], gc[0]))[:k]}
    out = {}
    for split, rows in splits.items():
        kept = [dict(r, glosses=[g for g in r["glosses"] if g in keep]) for r in rows]
        out[split] = [r for r in kept if len(r["glosses"]) >= min_len]
    return out


def stm_splits(
    spec: str, reference_dir: str, heldout_fraction: float, seed: int
) -> dict[str, list[dict]]:
    """Sentences per split from ``--glosses`` (``phoenix2014t`` or ``train=A.stm,dev=B.stm,...``).

    Without a test file, a seeded ``heldout_fraction`` of train becomes test.
    """
    if spec == "phoenix2014t":
        files = phoenix2014t_files(reference_dir)
    else:
        files = {}
        for item in spec.split(","):
            split, sep, path = item.partition("=")
            if not sep or split not in ("train", "dev", "test"):
                raise ValueError(f"--glosses: expected split=path.stm items, got {item!r}")
            files[split] = Path(path)
    if "train" not in files:
        raise ValueError(f"--glosses {spec!r}: a train STM file is required")
    for path in files.values():
        if not path.exists():
            raise FileNotFoundError(
                f"--glosses {spec!r}: {path} does not exist (set reference_dir)"
            )
    out = {split: read_stm(path) for split, path in files.items()}
    if "test" not in out:
        train = out["train"]
        rng = np.random.default_rng([seed, zlib.crc32(b"heldout")])
        test_idx = set(
            rng.permutation(len(train))[: int(round(heldout_fraction * len(train)))].tolist()
        )
        out["test"] = [r for i, r in enumerate(train) if i in test_idx]
        out["train"] = [r for i, r in enumerate(train) if i not in test_idx]
    out.setdefault("dev", [])
    return out
