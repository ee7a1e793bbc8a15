"""Gloss / word vocabularies (paper section 3.2, CodeBook; README "Design").

The CodeBook decoder (stage 1) and the CSLR decoder (stage 3) predict indices
into a dataset's gloss vocabulary, never free text. Ids 0..4 are always the
special tokens of ``schema.SPECIAL_TOKENS`` (PAD, BOS, EOS, UNK, BLANK: BLANK
is the CTC blank). ``counts`` keeps the training frequency of every id for the
inverse-frequency weights of the gloss-aware distillation loss (paper section 4.1).
Saved as ``vocab.json`` next to the shards by whoever builds it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from signx_jax import atomic, schema

_SKIP_ON_DECODE = frozenset({schema.PAD_ID, schema.BOS_ID, schema.BLANK_ID})


class Vocabulary:
    """Whitespace-token vocabulary with the special tokens first.

    ``tokens`` may include the special tokens at the start or leave them out
    (they are then prepended, with count 0). ``counts`` aligns with ``tokens``.
    """

    def __init__(self, tokens: list[str], counts: list[int] | None = None):
        tokens = list(tokens)
        counts = [0] * len(tokens) if counts is None else [int(c) for c in counts]
        if len(counts) != len(tokens):
            raise ValueError(f"{len(counts)} counts for {len(tokens)} tokens")
        n_special = len(schema.SPECIAL_TOKENS)
        if tuple(tokens[:n_special]) != schema.SPECIAL_TOKENS:
            tokens = list(schema.SPECIAL_TOKENS) + tokens
            counts = [0] * n_special + counts
        self._tokens = tokens
        self._counts = counts
        self._ids = {}
        for i, token in enumerate(tokens):
            if not token or any(ch.isspace() for ch in token):
                raise ValueError(f"vocabulary token {i} {token!r} is empty or has whitespace")
            if token in self._ids:
                first = self._ids[token]
                raise ValueError(f"vocabulary token {token!r} appears twice (ids {first}, {i})")
            self._ids[token] = i

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Tokens seen >= ``min_count`` times, by frequency then alphabetically."""
        counter = Counter(tok for s in sentences for tok in s.split())
        for special in schema.SPECIAL_TOKENS:
            counter.pop(special, None)
        kept = [t for t, c in counter.items() if c >= min_count]
        kept.sort(key=lambda t: (-counter[t], t))
        return cls(kept, [counter[t] for t in kept])

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    @property
    def counts(self) -> list[int]:
        """Training frequency per id (0 for the special tokens)."""
        return list(self._counts)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self._tokens == other._tokens
            and self._counts == other._counts
        )

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)})"

    def token_to_id(self, token: str) -> int:
        return self._ids.get(token, schema.UNK_ID)

    def id_to_token(self, idx: int) -> str:
        return self._tokens[idx]

    def encode(self, sentence: str) -> list[int]:
        """Whitespace tokens -> ids (unknown -> UNK_ID); no BOS/EOS added."""
        return [self._ids.get(tok, schema.UNK_ID) for tok in sentence.split()]

    def decoded_tokens(self, ids: Sequence[int]) -> list[str]:
        """Ids -> tokens; stops at EOS and skips PAD, BOS and BLANK."""
        out = []
        for idx in ids:
            idx = int(idx)
            if idx == schema.EOS_ID:
                break
            if idx in _SKIP_ON_DECODE:
                continue
            if not 0 <= idx < len(self._tokens):
                raise ValueError(f"id {idx} is outside the vocabulary (size {len(self)})")
            out.append(self._tokens[idx])
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text; stops at EOS and skips PAD, BOS and BLANK."""
        return " ".join(self.decoded_tokens(ids))

    def save(self, path: str) -> None:
        """Write ``path`` atomically: a reader finds the whole vocabulary or none."""
        atomic.write_json(path, {"tokens": self._tokens, "counts": self._counts},
                          ensure_ascii=False)  # fmt: skip

    @staticmethod
    def read(path: str, fmt: str | None = None) -> dict:
        """The JSON object of a saved vocabulary (``format`` = ``fmt``), whose tokens
        start with the special tokens; a ValueError naming ``path`` otherwise."""
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a vocabulary JSON file ({e})") from e
        if not isinstance(data, dict) or "tokens" not in data or data.get("format") != fmt:
            want = "'tokens'" + (f" and format {fmt!r}" if fmt else "")
            raise ValueError(f"{path}: expected a JSON object with {want}")
        if tuple(data["tokens"][: len(schema.SPECIAL_TOKENS)]) != schema.SPECIAL_TOKENS:
            raise ValueError(f"{path}: vocabulary must start with {schema.SPECIAL_TOKENS}")
        return data

    @classmethod
    def load(cls, path: str) -> Vocabulary:
        data = cls.read(path)
        return cls(data["tokens"], data.get("counts"))


def ids_to_text(ids: Sequence[int] | np.ndarray, vocab) -> str:
    """Decoder output ids [L] -> text, for every vocabulary (glosses or subwords).

    The one place ids become text: ``-1`` (the decoders' padding past EOS or
    past the last beam token) is dropped, then ``vocab.decode`` stops at EOS
    and skips PAD, BOS and BLANK. References are never made this way: they are
    the annotation text (``signx_jax.evaluate.reference_texts``).
    """
    return vocab.decode([int(i) for i in np.asarray(ids).reshape(-1) if i >= 0])
