"""Sign2Text on PHOENIX-2014T (paper Table 3): German ``translation`` targets as BPE.

Run (latent cache of the PHOENIX-2014T shards, whose records carry the German
sentence in ``translation``)::

  python -m signx_jax.main --config configs/phoenix2014t.py:base --workdir=runs/phx \
      --stage3_config configs/phoenix2014t_translation.py:base --steps stage3,evaluate

arg is the model size: tiny | small | base | ladder0..5 (default: base).
"""

from __future__ import annotations

import ml_collections

from configs.synthetic_translation import translation_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    # ~2.9k German word types in train; 2k BPE ids (ours: the paper gives no size).
    c = translation_config(arg or "base", "phoenix2014t", target_vocab_size=2000)
    c.data.max_label_len = 96  # the longest sentences are ~55 words, more pieces
    return c
