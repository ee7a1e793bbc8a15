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

Train, then score the released best-5 average on dev and test::

  python -m signx_jax.train.translation --config configs/phoenix2014t_translation.py:base \
      --config.data.latent_dir=data/phoenix2014t_latents/video --workdir runs/phx/slt
  python -m signx_jax.train.translation --mode evaluate \
      --config configs/phoenix2014t_translation.py:base \
      --config.data.latent_dir=data/phoenix2014t_latents/video --workdir runs/phx/slt
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
from signx_jax.train.tasks import CSLRTask, gloss_summary

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
            l_ctc = jnp.sum(per * valid) / jnp.maximum(jnp.sum(valid), 1)
            loss = loss + cfg.ctc_weight * l_ctc
            metrics["l_ctc"] = l_ctc
        loss = loss + self.regularizers(batch, out, metrics)
        metrics["kept_dims"] = jnp.sum(aux["prune_mask"])
        return loss, (
            metrics,
            {"act_var": _activation_variance(out["compiled"], batch["frame_mask"])},
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


def _activation_variance(compiled: jax.Array, frame_mask: jax.Array) -> jax.Array:
    """Per-dim variance of the compiled latent over valid frames (pruning statistic)."""
    z = jax.lax.stop_gradient(compiled).astype(jnp.float32)
    mask = frame_mask[..., None]
    n = jnp.maximum(jnp.sum(mask), 1)
    mean = jnp.sum(z * mask, axis=(0, 1)) / n
    return jnp.sum(jnp.square(z - mean) * mask, axis=(0, 1)) / n


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
        source = AugmentedSource(source, num_views=cfg.data.num_views, seed=cfg.seed)
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


def _main(argv) -> None:
    from absl import app

    from signx_jax import checkpoint as ckpt_lib
    from signx_jax import distributed
    from signx_jax.data import shards
    from signx_jax.data.vocab import Vocabulary
    from signx_jax.train.fit import evaluate, fit
    from signx_jax.train.loop import Trainer

    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)
    distributed.initialize()
    cfg, workdir = _CONFIG.value, _WORKDIR.value
    if cfg is None or workdir is None:
        raise app.UsageError("--config and --workdir are required")
    latent_dir = cfg.data.latent_dir
    vocab = Vocabulary.load(os.path.join(latent_dir, "vocab.json"))
    split = lambda s: shards.open_split(latent_dir, s, skip_corrupt=cfg.data.skip_corrupt)  # noqa: E731
    train, dev = split(cfg.data.train_split), split(cfg.data.dev_split)
    target_vocab = target_vocab_for(cfg, train, workdir)
    task = TranslationTask(cfg, len(vocab), len(target_vocab), class_counts=vocab.counts)
    if _MODE.value == "evaluate":
        trainer = Trainer(cfg, task)
        steps = ckpt_lib.restore_released(trainer, workdir, cfg.train.keep_best)
        for name in (cfg.data.dev_split, cfg.data.test_split):
            scores = evaluate(trainer, split(name), vocab, target_vocab=target_vocab)
            print(f"{name} (mean of checkpoints {steps}): " + " ".join(
                f"{k}={v:.2f}" for k, v in sorted(scores.items())))  # fmt: skip
        return
    result = fit(
        cfg, task, train_source=training_source(cfg, train, target_vocab), dev_source=dev,
        vocab=vocab, target_vocab=target_vocab, workdir=workdir,
    )  # fmt: skip
    log.info("finished at step %d (%s); dev %s", result.step, result.status, result.dev_metrics)


if __name__ == "__main__":
    from absl import flags

    from signx_jax import cli

    def _define_flags() -> None:
        global _CONFIG, _WORKDIR, _MODE
        _CONFIG = cli.define_config(None, "Translation config file[:size].")
        _WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs).")
        _MODE = flags.DEFINE_enum("mode", "train", ["train", "evaluate"], "What to do.")

    cli.run(_main, _define_flags)
