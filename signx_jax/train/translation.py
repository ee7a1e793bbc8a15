"""Sign2Text training: the stage-3 encoder-decoder on spoken-language targets (paper Table 3).

Translation trains the same stage-3 encoder-decoder on spoken-language targets
(README "Design"); the model is ``signx_jax.models.sign2text.Sign2Text``.
Everything before the decoder is the CSLR model of ``signx_jax.models.cslr``
(feature compilation, pruning, TemporalConv, BiLSTM, transformer encoder, CTC
head over the *gloss* vocabulary, gloss-aware distillation); only the decoder
predicts subwords of the ``translation`` text (``signx_jax.data.subword``, BPE
with BPE-dropout 0.2 as in sltunet).

Loss = CE(targets, label smoothing) + ctc_weight * CTC(glosses) + KD + Lipschitz:
the paper's joint setting keeps the gloss CTC on the encoder; ``loss.ctc_weight
= 0`` (and ``kd_weight = 0``) trains gloss-free. Evaluation: attention beam
search on the target vocabulary (``decode.beam``, GNMT length penalty
``decode.length_penalty``) scored with BLEU-1..4 and ROUGE-L
(``signx_jax.metrics``). The checkpointer keeps the best five by ``dev_wer``
(lower is better), so ``summarize_eval`` also reports ``wer = 100 - BLEU-4``.

Stage 3 of the main job on the recipe's latent cache, then the released best-5
average scored on dev and test (``score_splits``)::

  python -m signx_jax.main --config configs/phoenix2014t.py:base --workdir runs/phx \
      --stage3_config configs/phoenix2014t_translation.py:base --steps stage3,evaluate
"""

from __future__ import annotations

import logging
import os

import jax
import jax.numpy as jnp
import ml_collections

from signx_jax import metrics as metrics_lib
from signx_jax import schema
from signx_jax.data.subword import BPEDropoutSource, SubwordVocabulary
from signx_jax.models.sign2text import Sign2Text
from signx_jax.train import losses
from signx_jax.train.tasks import CSLRTask, activation_variance, gloss_summary

log = logging.getLogger("signx.train")


class TranslationTask(CSLRTask):
    """The stage-3 Task (see ``signx_jax/train/tasks.py``) for Sign2Text."""

    name = "translation"

    def __init__(
        self,
        cfg: ml_collections.ConfigDict,
        vocab_size: int,
        target_vocab_size: int,
        class_counts=None,
    ):
        super().__init__(cfg, vocab_size, class_counts=class_counts)
        self.target_vocab_size = target_vocab_size

    def build_model(self, rngs) -> Sign2Text:
        return Sign2Text(self.cfg.model, self.vocab_size, self.target_vocab_size, rngs=rngs)

    def loss_fn(self, model, aux, batch, step):
        cfg = self.cfg.loss
        valid = batch["valid"]
        targets, tmask = losses.append_eos(batch["targets"], batch["target_lengths"])
        tmask = tmask & valid[:, None]  # padding rows would otherwise learn "EOS first"
        tokens_in = losses.shift_right(targets)
        out = model(
            batch["latent"], batch["frame_mask"], aux["prune_mask"], tokens_in, deterministic=False
        )
        l_ce = losses.label_smoothed_ce(out["dec_logits"], targets, tmask, cfg.label_smoothing)
        loss = cfg.ce_weight * l_ce
        metrics = {"l_ce": l_ce}
        if cfg.ctc_weight:  # joint setting: gloss CTC on the encoder
            label_mask = (
                jnp.arange(batch["labels"].shape[1])[None] < batch["label_lengths"][:, None]
            )
            per = losses.ctc(
                out["ctc_logits"], out["enc_mask"], batch["labels"], label_mask, schema.BLANK_ID
            )
            l_ctc = losses.ctc_mean(per, label_mask, normalize_by_length=False, valid=valid)
            loss = loss + cfg.ctc_weight * l_ctc
            metrics["l_ctc"] = l_ctc
        loss = loss + self.regularizers(batch, out, metrics)
        metrics["kept_dims"] = jnp.sum(aux["prune_mask"])
        return loss, (
            metrics,
            {"act_var": activation_variance(out["compiled"], batch["frame_mask"])},
        )

    def eval_fn(self, model, aux, batch):
        from signx_jax.decoding import ctc_greedy
        from signx_jax.decoding.model import decode_cslr

        d = self.cfg.decode
        out = model(
            batch["latent"], batch["frame_mask"], aux["prune_mask"], None, deterministic=True
        )
        tokens, _, _ = decode_cslr(
            model, out, method="attention", beam=d.beam, max_len=d.max_len,
            entropy_alpha=d.entropy_alpha, length_penalty=d.length_penalty,
            repetition_penalty=d.repetition_penalty,
        )  # fmt: skip
        gloss_hyp, _ = ctc_greedy(out["ctc_logits"], out["out_lengths"], blank=schema.BLANK_ID)
        keys = ("valid", "labels", "label_lengths", "targets", "target_lengths", "index")
        return {"hyp": tokens[:, 0], "gloss_hyp": gloss_hyp, **{k: batch[k] for k in keys}}

    def summarize_eval(self, outputs, vocab, target_vocab=None, *, source, dataset="none"):
        if target_vocab is None:
            raise ValueError("TranslationTask.summarize_eval needs the target vocabulary")
        refs, hyps = decode_translations(outputs, source, target_vocab)
        result = translation_scores(refs, hyps, chinese_chars=self.cfg.data.chinese_chars)
        if self.cfg.loss.ctc_weight:  # how well the encoder still recognises glosses
            gloss = gloss_summary(outputs, vocab, source=source, dataset=dataset, key="gloss_hyp")
            result["gloss_wer"] = gloss["wer"]
        return result


def decode_translations(outputs: list[dict], source, target_vocab) -> tuple[list[str], list[str]]:
    """Reference (the records' ``translation`` as written) and hypothesis
    sentences of the valid rows of eval outputs (``signx_jax.evaluate.sentences``)."""
    from signx_jax.evaluate import sentences

    return sentences(outputs, source, target_vocab, key="hyp", field="translation")


def translation_scores(refs: list[str], hyps: list[str], *, chinese_chars: bool = False) -> dict:
    """BLEU-1..4 and ROUGE-L (percent), plus ``wer = 100 - bleu4`` for checkpoint ranking."""
    scores = metrics_lib.bleu(refs, hyps, chinese_chars=chinese_chars)
    scores["rouge_l"] = metrics_lib.rouge_l(refs, hyps, chinese_chars=chinese_chars)
    scores["wer"] = 100.0 - scores["bleu4"]
    scores["num_sentences"] = float(len(refs))
    return scores


# -- data: the target vocabulary and the training source --------------------------


def split_translations(source) -> list[str]:
    """The ``translation`` of every readable record of a split (reads each record once)."""
    out = []
    for i in range(len(source)):
        record = source[i]
        if record is not None:
            out.append(record.get("translation", ""))
    return out


def build_target_vocab(cfg: ml_collections.ConfigDict, sentences: list[str]) -> SubwordVocabulary:
    """``data.target_level``: "bpe" (``data.target_vocab_size`` ids) or "char"."""
    level = cfg.data.target_level
    if level == "char":
        return SubwordVocabulary.characters(sentences)
    if level == "bpe":
        return SubwordVocabulary.train(
            sentences, cfg.data.target_vocab_size, character_coverage=cfg.data.character_coverage
        )
    raise ValueError(f"config data.target_level must be 'bpe' or 'char', got {level!r}")


def training_source(cfg: ml_collections.ConfigDict, source, target_vocab: SubwordVocabulary):
    """Latent views (``data.num_views``) with BPE-dropout targets (``data.bpe_dropout``)."""
    from signx_jax.data.augment import AugmentedSource

    if cfg.data.num_views:
        source = AugmentedSource(source, num_views=cfg.data.num_views, seed=cfg.seed,
                                 noise_var=cfg.data.view_noise_var)  # fmt: skip
    if cfg.data.bpe_dropout and not target_vocab.character_level:
        source = BPEDropoutSource(source, target_vocab, alpha=cfg.data.bpe_dropout, seed=cfg.seed)
    return source


def target_vocab_for(
    cfg: ml_collections.ConfigDict, train_split, workdir: str
) -> SubwordVocabulary:
    """``data.target_vocab_path`` if set, else the workdir's, else built from train and saved."""
    path = cfg.data.target_vocab_path or os.path.join(workdir, "target_vocab.json")
    if os.path.exists(path):
        return SubwordVocabulary.load(path)
    if cfg.data.target_vocab_path:
        raise FileNotFoundError(f"config data.target_vocab_path={path!r} does not exist")
    vocab = build_target_vocab(cfg, split_translations(train_split))
    if jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        vocab.save(path)
    log.info("target vocabulary %s saved to %s", vocab, path)
    return vocab


def score_splits(trainer, latents: dict, vocab, target_vocab, splits, out_dir: str) -> str:
    """BLEU-1..4, ROUGE-L (and the gloss WER of the encoder's CTC head) of each route's
    ``splits`` (latents: {route: {split: source}}): ``out_dir/metrics.json`` and a table."""
    import json

    from signx_jax.train.fit import evaluate

    rows = {
        f"{route} / {split}": evaluate(trainer, sources[split], vocab, target_vocab=target_vocab)
        for route, sources in latents.items()
        for split in splits
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": trainer.cfg.dataset, "metrics": rows}, f, indent=2)
    return "\n".join(
        f"{name}: " + " ".join(f"{k}={v:.2f}" for k, v in sorted(m.items()))
        for name, m in rows.items()
    )
