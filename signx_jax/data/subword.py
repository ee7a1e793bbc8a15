"""Subword target vocabularies for Sign2Text (paper Table 3; README "Design").

The translation decoder predicts spoken-language subwords, not glosses. As in
sltunet (the public code SignX's stage-3 transformer follows) the units are
BPE pieces, with BPE-dropout 0.2 on the training targets.

``SubwordVocabulary`` is a ``signx_jax.data.vocab.Vocabulary``
(``encode``, ``decode``, ``__len__``, ``counts``, ``save``, ``load``), so it is
the pipeline's ``target_vocab``. Ids 0..4 are ``schema.SPECIAL_TOKENS`` (PAD,
BOS, EOS, UNK, BLANK), then the pieces.

- BPE: a sentencepiece BPE model trained in-process on the training
  sentences (deterministic: no input sampling or shuffling, one thread).
  ``encode`` is sentencepiece's deterministic segmentation.
- BPE-dropout (Provilkov et al. 2020): ``sample_encode(text, rng, alpha)``
  re-runs the BPE merges of every word, skipping each candidate merge with
  probability ``alpha`` and stopping when none is left. It is ours (a few
  lines over the model's merge priorities) because sentencepiece's own
  sampling draws from a thread-local generator that cannot be seeded per call;
  ours is a pure function of (text, rng), so ``BPEDropoutSource`` makes the
  segmentation of training record ``i`` a function of (seed, i) and it can be
  recomputed after a resume. With ``alpha = 0`` it equals ``encode``.
- Character level (CSL-Daily Chinese): every non-space character is a token
  and decoding joins them without spaces; no dropout.

The input pipeline only calls ``target_vocab.encode(text)``. ``BPEDropoutSource``
therefore writes the sampled ids into the record's ``translation`` behind the
marker ``PRESEGMENTED``, and ``encode`` passes such strings through unchanged.
"""

from __future__ import annotations

import base64
import heapq
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from signx_jax import atomic, schema
from signx_jax.data.vocab import Vocabulary

PRESEGMENTED = "\x1eids:"  # marks a ``translation`` that already holds target ids
_WORD_START = "\u2581"  # sentencepiece's whitespace symbol
_FORMAT = "signx-subword-v1"


def _spm():
    try:
        import sentencepiece
    except ImportError as e:  # pragma: no cover - a dependency of the translation task
        raise ImportError("SubwordVocabulary needs `pip install sentencepiece`") from e
    return sentencepiece


class SubwordVocabulary(Vocabulary):
    """BPE (sentencepiece) or character vocabulary with the special tokens first.

    Build with ``SubwordVocabulary.train(sentences, vocab_size)`` or
    ``SubwordVocabulary.characters(sentences)``; do not call the constructor.
    """

    def __init__(self, pieces: list[str], counts: list[int], model_proto: bytes | None):
        super().__init__(list(schema.SPECIAL_TOKENS) + list(pieces), counts)
        self._proto = model_proto
        self._sp = None
        # Merge priority of every multi-character piece (sentencepiece BPE
        # scores are -merge_order, so a higher score is an earlier merge).
        self._rank: dict[str, float] = {}
        if model_proto is not None:
            self._sp = _spm().SentencePieceProcessor(model_proto=model_proto)
            for i in range(self._sp.get_piece_size()):
                if self._sp.is_control(i) or self._sp.is_unknown(i):
                    continue
                self._rank[self._sp.id_to_piece(i)] = float(self._sp.get_score(i))

    # -- building -------------------------------------------------------------------

    @classmethod
    def train(
        cls, sentences: Iterable[str], vocab_size: int, *, character_coverage: float = 1.0
    ) -> SubwordVocabulary:
        """BPE with ``vocab_size`` ids in total (specials included; a soft limit:
        a small corpus may give fewer). Deterministic for the same sentences."""
        sentences = [s for s in sentences if s.strip()]
        if not sentences:
            raise ValueError("SubwordVocabulary.train: no non-empty training sentence")
        n_special = len(schema.SPECIAL_TOKENS)
        if vocab_size <= n_special:
            raise ValueError(f"vocab_size {vocab_size} leaves no room after {n_special} specials")
        spm = _spm()
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type="bpe",
            # sentencepiece counts its own <unk>; our other 4 specials are extra.
            vocab_size=vocab_size - (n_special - 1),
            hard_vocab_limit=False,
            character_coverage=character_coverage,
            unk_id=0,
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
        )
        proto = model.getvalue()
        sp = spm.SentencePieceProcessor(model_proto=proto)
        pieces = [
            sp.id_to_piece(i)
            for i in range(sp.get_piece_size())
            if not (sp.is_control(i) or sp.is_unknown(i))
        ]
        vocab = cls(pieces, [0] * (n_special + len(pieces)), proto)
        vocab._counts = vocab._count(sentences)
        return vocab

    @classmethod
    def characters(cls, sentences: Iterable[str]) -> SubwordVocabulary:
        """Character level (Chinese): by frequency, then code point."""
        counter = Counter(ch for s in sentences for ch in s if not ch.isspace())
        chars = sorted(counter, key=lambda ch: (-counter[ch], ch))
        counts = [0] * len(schema.SPECIAL_TOKENS) + [counter[ch] for ch in chars]
        return cls(chars, counts, None)

    def _count(self, sentences: Sequence[str]) -> list[int]:
        counts = [0] * len(self._tokens)
        for s in sentences:
            for i in self.encode(s):
                counts[i] += 1
        return counts

    # -- the Vocabulary interface -----------------------------------------------------

    @property
    def character_level(self) -> bool:
        return self._sp is None

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self._proto == other._proto

    def __repr__(self) -> str:
        kind = "characters" if self.character_level else "bpe"
        return f"SubwordVocabulary({kind}, size={len(self)})"

    def _piece_ids(self, pieces: Iterable[str]) -> list[int]:
        return [self._ids.get(p, schema.UNK_ID) for p in pieces]

    def pieces(self, text: str) -> list[str]:
        """Deterministic segmentation of ``text`` into pieces (or characters)."""
        if self._sp is None:
            return [ch for ch in text if not ch.isspace()]
        return list(self._sp.encode(text, out_type=str))

    def encode(self, text: str) -> list[int]:
        """Text -> ids (unknown -> UNK_ID); no BOS/EOS. ``PRESEGMENTED`` text
        (written by ``BPEDropoutSource``) already holds the ids."""
        if text.startswith(PRESEGMENTED):
            return [int(i) for i in text[len(PRESEGMENTED) :].split()]
        return self._piece_ids(self.pieces(text))

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text; stops at EOS and skips PAD, BOS and BLANK."""
        unk = f"{_WORD_START}{schema.UNK}"
        out = [unk if t == schema.UNK else t for t in self.decoded_tokens(ids)]
        if self.character_level:
            return "".join(p.lstrip(_WORD_START) for p in out)
        return " ".join("".join(out).replace(_WORD_START, " ").split())

    # -- BPE-dropout ------------------------------------------------------------------

    def _dropout_merge(self, word: str, rng: np.random.Generator, alpha: float) -> list[str]:
        """BPE merges of one word (its characters), each candidate merge skipped
        with probability ``alpha`` at every step; the best remaining one (highest
        priority, leftmost) is applied; stop when none remains."""
        symbols = list(word)
        while len(symbols) > 1:
            candidates = []
            for i in range(len(symbols) - 1):
                rank = self._rank.get(symbols[i] + symbols[i + 1])
                if rank is not None:
                    candidates.append((-rank, i))
            if alpha > 0 and candidates:
                keep = rng.random(len(candidates)) >= alpha
                candidates = [c for c, k in zip(candidates, keep, strict=True) if k]
            if not candidates:
                break
            _, i = heapq.nsmallest(1, candidates)[0]
            symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
        return symbols

    def sample_pieces(self, text: str, rng: np.random.Generator, alpha: float) -> list[str]:
        """BPE-dropout segmentation of ``text``; ``alpha = 0`` gives ``pieces(text)``."""
        pieces = self.pieces(text)
        if self._sp is None:
            return pieces
        words: list[str] = []
        for p in pieces:  # words are never merged across: split at the word marks
            if p.startswith(_WORD_START) or not words:
                words.append(p)
            else:
                words[-1] += p
        return [s for w in words for s in self._dropout_merge(w, rng, alpha)]

    def sample_encode(self, text: str, rng: np.random.Generator, alpha: float) -> list[int]:
        return self._piece_ids(self.sample_pieces(text, rng, alpha))

    # -- files ------------------------------------------------------------------------

    def save(self, path: str) -> None:
        proto = None if self._proto is None else base64.b64encode(self._proto).decode("ascii")
        data = {"format": _FORMAT, "tokens": self._tokens, "counts": self._counts, "model": proto}
        atomic.write_json(path, data, ensure_ascii=False)

    @classmethod
    def load(cls, path: str) -> SubwordVocabulary:
        data = cls.read(path, _FORMAT)
        proto = None if data["model"] is None else base64.b64decode(data["model"])
        vocab = cls(data["tokens"][len(schema.SPECIAL_TOKENS) :], data["counts"], proto)
        if vocab.tokens != data["tokens"]:
            raise ValueError(f"{path}: tokens do not match the stored sentencepiece model")
        return vocab


class BPEDropoutSource:
    """A record source whose ``translation`` is re-segmented with BPE-dropout.

    Record ``i``'s segmentation is a pure function of (seed, i): with an
    ``AugmentedSource`` underneath, every latent view of a clip gets its own.
    The ids are written as ``PRESEGMENTED`` text, which
    ``SubwordVocabulary.encode`` passes through.
    """

    def __init__(self, source, vocab: SubwordVocabulary, *, alpha: float, seed: int):
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"BPE-dropout alpha must be in [0, 1), got {alpha}")
        self.source, self.vocab, self.alpha, self.seed = source, vocab, float(alpha), int(seed)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record = self.source[index]
        if record is None:
            return None
        rng = np.random.default_rng((self.seed, int(index), 0x42504544))  # "BPED"
        ids = self.vocab.sample_encode(record.get("translation", ""), rng, self.alpha)
        out = dict(record)
        out["translation"] = PRESEGMENTED + " ".join(map(str, ids))
        return out

    def __repr__(self) -> str:
        # Grain names sources by repr: keep it short for an in-memory list of records.
        inner = (
            f"<{len(self.source)} records>" if isinstance(self.source, list) else repr(self.source)
        )
        return f"BPEDropoutSource({inner}, alpha={self.alpha}, seed={self.seed})"
