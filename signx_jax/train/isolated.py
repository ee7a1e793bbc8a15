"""Stage 3 for isolated recognition (WLASL): one class per clip.

The cached latent of a clip is pooled over its valid frames and classified by
``signx_jax.models.cslr.IsolatedHead`` (LayerNorm, masked mean, MLP). The class
of a clip is its one gloss id in the dataset's ``vocab.json`` (the converter
writes one gloss per clip; ``data.max_label_len = 1``), so the classifier has
``len(vocab)`` outputs; the five special ids are never targets and the model
learns to leave them alone.

Loss: cross-entropy with label smoothing ``cfg.loss.label_smoothing`` over the
valid clips of a batch. Evaluation: top-1 per-instance (micro) and per-class
(macro over the classes present) accuracy, as WLASL papers report them, plus
top-5 per-instance and per-class; ``top1_error = 100 - top1`` is what the
best-k checkpointing minimises (``train.best_metric = "dev_top1_error"``).
The reference of a clip is its record's annotation gloss
(``signx_jax.evaluate.reference_texts``), never its label id: a dev/test gloss
missing from the train vocabulary has the label ``<unk>``, and a ``<unk>``
prediction must not count as reading it (such a clip can never be right).

Selected by ``data.task = "isolated"`` (``configs/wlasl_isolated.py``) in
``signx_jax.main`` (WLASL's recipe); it plugs into the generic loop like ``CSLRTask``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from signx_jax import metrics as metrics_lib
from signx_jax.train import losses

TOP_K = 5


def clip_targets(batch) -> tuple[jax.Array, jax.Array]:
    """(class id [B], mask [B]): a clip's first gloss; rows without a label or
    padding rows (``valid`` False) are masked."""
    mask = batch["valid"].astype(bool) & (batch["label_lengths"] > 0)
    return batch["labels"][:, 0], mask


def isolated_loss(logits: jax.Array, target: jax.Array, mask: jax.Array, smoothing: float):
    """Label-smoothed cross-entropy of logits [B, C] for targets [B], mean over ``mask``."""
    return losses.label_smoothed_ce(logits[:, None], target[:, None], mask[:, None], smoothing)


def topk_hit_preds(labels: np.ndarray, topk: np.ndarray) -> np.ndarray:
    """Per clip: the label if it is among the top-k predictions [N, k], else the
    top-1 prediction; so ``top1_accuracy`` of these is top-k accuracy."""
    labels, topk = np.asarray(labels), np.asarray(topk)
    hit = (topk == labels[:, None]).any(axis=1)
    return np.where(hit, labels, topk[:, 0])


def text_accuracy_summary(refs: list[str], topk_texts: list[list[str]]) -> dict[str, float]:
    """Reference glosses [N] and the top-k predicted glosses [N, k] (best first) ->
    ``accuracy_summary``: the classes are the reference glosses present."""
    classes = {g: i for i, g in enumerate(dict.fromkeys(refs))}
    k = len(topk_texts[0]) if topk_texts else TOP_K
    labels = np.asarray([classes[g] for g in refs], np.int64)
    # A predicted gloss that is no reference gloss (<unk> included) matches nothing: -1.
    topk = np.asarray([[classes.get(g, -1) for g in row] for row in topk_texts], np.int64)
    return accuracy_summary(labels, topk.reshape(len(refs), k), max(len(classes), 1))


def accuracy_summary(labels, topk, num_classes: int) -> dict[str, float]:
    """labels [N], topk [N, k] (best first) -> top-1 and top-k accuracy, percent."""
    labels, topk = np.asarray(labels, np.int64), np.asarray(topk, np.int64)
    top1 = metrics_lib.top1_accuracy(labels, topk[:, 0], num_classes)
    topk_acc = metrics_lib.top1_accuracy(labels, topk_hit_preds(labels, topk), num_classes)
    k = topk.shape[1]
    return {
        "top1": top1["per_instance"],
        "top1_per_class": top1["per_class"],
        f"top{k}": topk_acc["per_instance"],
        f"top{k}_per_class": topk_acc["per_class"],
        "top1_error": 100.0 - top1["per_instance"],
        "num_clips": float(len(labels)),
    }


class IsolatedTask:
    """Pooled latent -> class (see the module docstring); the Task protocol of
    ``signx_jax/train/tasks.py``."""

    name = "isolated"
    features = ("latent",)
    trainable = nnx.Param

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int):
        self.cfg, self.num_classes = cfg, num_classes
        self.top_k = min(TOP_K, num_classes)

    def build_model(self, rngs: nnx.Rngs) -> nnx.Module:
        from signx_jax.models.cslr import IsolatedHead

        return IsolatedHead(self.cfg.model, self.num_classes, rngs=rngs)

    def init_aux(self):
        return {}

    def update_aux(self, aux, stats, step):
        return aux

    def loss_fn(self, model, aux, batch, step):
        logits = model(batch["latent"], batch["frame_mask"], deterministic=False)
        target, mask = clip_targets(batch)
        loss = isolated_loss(logits, target, mask, self.cfg.loss.label_smoothing)
        correct = (jnp.argmax(logits, axis=-1) == target) & mask
        acc = 100.0 * jnp.sum(correct) / jnp.maximum(jnp.sum(mask), 1)
        return loss, ({"l_ce": loss, "train_top1": acc}, None)

    def eval_fn(self, model, aux, batch):
        logits = model(batch["latent"], batch["frame_mask"], deterministic=True)
        target, mask = clip_targets(batch)
        _, topk = jax.lax.top_k(logits, self.top_k)
        return {"topk": topk.astype(jnp.int32), "target": target, "mask": mask,
                "index": batch["index"]}  # fmt: skip

    def summarize_eval(self, outputs, vocab, target_vocab=None, *, source, **_):
        """Top-k accuracy of the valid rows against the annotation gloss of each
        record of ``source`` (the module docstring: never the label id)."""
        return text_accuracy_summary(*topk_texts(outputs, source, vocab))


def topk_texts(outputs, source, vocab) -> tuple[list[str], list[list[str]]]:
    """(annotation glosses, top-k predicted glosses) of the valid rows of eval
    ``outputs`` of ``source``, in order."""
    from signx_jax.data.vocab import ids_to_text
    from signx_jax.evaluate import reference_texts

    if not outputs:  # an empty split
        return [], []
    mask = np.concatenate([np.asarray(o["mask"], bool) for o in outputs])
    index = np.concatenate([np.asarray(o["index"]) for o in outputs])[mask]
    topk = np.concatenate([np.asarray(o["topk"]) for o in outputs])[mask]
    hyps = [[ids_to_text([i], vocab) for i in row] for row in topk]
    return reference_texts(source, index), hyps


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """{split: accuracy_summary} -> a plain-text table, one row per split."""
    cols = ("top1", "top1_per_class", "top5", "top5_per_class", "num_clips")
    lines = ["split  " + "  ".join(f"{c:>14}" for c in cols)]
    for split, row in rows.items():
        cells = [
            f"{'-':>14}" if c not in row else f"{int(row[c]):>14d}" if c == "num_clips"
            else f"{row[c]:>14.2f}"
            for c in cols
        ]  # fmt: skip
        lines.append(f"{split:<5}  " + "  ".join(cells))
    return "\n".join(lines)
