"""Sign2Text (stage 3 on translation targets) on the synthetic corpus's latents.

Run (stage 3 of the demo's recipe, on its latent cache)::

  python -m signx_jax.main --config configs/demo.py --workdir=runs/demo \
      --stage3_config configs/synthetic_translation.py --steps stage3,evaluate

arg is the model size: tiny | small | base | ladder0..5 (default: tiny).
``translation_config`` is the shared builder of every ``*_translation.py``.
"""

from __future__ import annotations

import ml_collections

from configs.common import train_config


def translation_config(
    size: str,
    dataset: str,
    *,
    variant: str = "signx",
    target_level: str = "bpe",
    target_vocab_size: int = 1000,
) -> ml_collections.ConfigDict:
    """The CSLR config (paper section 4) with the decoder on spoken-language subwords."""
    c = train_config("cslr", size, dataset=dataset, variant=variant)
    c.data.task = "translation"
    c.data.target_level = target_level  # "bpe" (sentencepiece) or "char" (Chinese)
    c.data.target_vocab_size = target_vocab_size  # BPE ids incl. the 5 specials (soft limit)
    c.data.character_coverage = 1.0  # sentencepiece; 0.9995 for CJK words
    c.data.bpe_dropout = 0.2  # sltunet: BPE-dropout 0.2 on the training targets
    c.data.target_vocab_path = ""  # "" = <workdir>/target_vocab.json, built from train
    c.data.chinese_chars = False  # score BLEU / ROUGE on characters (CSL-Daily)
    # The gloss CTC stays on the encoder (the paper's joint setting); 0 = gloss-free.
    c.loss.ctc_weight = 0.3
    c.decode.max_len = c.data.get_ref("max_label_len") + 1  # target pieces + EOS
    c.decode.ctc_weight = 0.0  # the CTC head scores glosses: no joint rescoring
    # The checkpointer keeps the lowest dev_wer; summarize_eval reports 100 - BLEU-4 as wer.
    c.train.best_metric = "dev_wer"
    return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    c = translation_config(arg or "tiny", "synthetic", target_vocab_size=256)
    c.data.max_label_len = 32
    c.data.buckets = (32, 64, 128, 256)
    return c
