"""Sign2Text: the stage-3 encoder-decoder on spoken-language targets (paper Table 3).

Everything before the decoder is the CSLR model of ``signx_jax.models.cslr``
(feature compilation, pruning, TemporalConv, BiLSTM, transformer encoder, CTC
head over the *gloss* vocabulary); only the decoder predicts subwords of the
``translation`` text (README "Design"). Training: ``signx_jax/train/translation.py``.
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from signx_jax.models import layers
from signx_jax.models.cslr import CSLR


class Sign2Text(CSLR):
    """CSLR whose CTC head / distillation use the gloss vocabulary and whose
    decoder predicts ``target_vocab_size`` subwords."""

    def __init__(self, cfg: Any, gloss_vocab_size: int, target_vocab_size: int, *, rngs: nnx.Rngs):
        if not cfg.use_decoder:
            raise ValueError("translation needs the transformer decoder (model.use_decoder=True)")
        super().__init__(cfg, gloss_vocab_size, rngs=rngs)
        self.decoder = layers.TransformerDecoder(
            target_vocab_size, cfg.dec_layers, cfg.width, cfg.heads, cfg.mlp, self.enc_width, cfg,
            rngs=rngs,
        )  # fmt: skip
