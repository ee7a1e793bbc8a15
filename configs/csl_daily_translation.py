"""Sign2Text on CSL-Daily: Chinese targets as characters (default) or BPE over words.

Run (latent cache of the CSL-Daily shards; ``translation`` holds the
word-segmented Chinese sentence)::

  python -m signx_jax.main --config configs/csl_daily.py:base --workdir=runs/csl \
      --stage3_config configs/csl_daily_translation.py:base,char --steps stage3,evaluate

arg is ``size[,level]``: size tiny | small | base | ladder0..5 (default base),
level ``char`` (one token per character) or ``words`` (BPE over the words).
Scores are on characters either way, as the CSL-Daily papers report them.
"""

from __future__ import annotations

import ml_collections

from configs.synthetic_translation import translation_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    size, _, level = (arg or "base").partition(",")
    level = level or "char"
    if level not in ("char", "words"):
        raise ValueError(f"configs/csl_daily_translation.py: level {level!r}; use char or words")
    target_level = "char" if level == "char" else "bpe"
    c = translation_config(size, "csl_daily", target_level=target_level, target_vocab_size=4000)
    c.data.character_coverage = 0.9995  # sentencepiece's advice for CJK
    c.data.chinese_chars = True
    c.data.max_label_len = 96  # characters of the longest sentences
    return c
