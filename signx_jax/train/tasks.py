"""The stage-specific parts of training: one small ``Task`` per SignX stage.

``Task`` (below) is what the generic loop (``signx_jax/train/loop.py``,
``fit.py``, ``signx_jax/evaluate.py``) calls: gloss tasks score their
hypotheses against the annotation text of ``source`` after ``dataset``'s
clean-up (``gloss_summary``), Video2Pose averages its MSEs.

Stage 1 (paper appendix B.1, eq. 13): L_text + L_word + L_contrast with scheduled
teacher forcing. Stage 2 (paper appendix B.2): masked per-stream MSE (eq. 14), plus an
optional latent-matching term through the *frozen* stage-1 encoder, which
pulls the video route's latents onto the pose route's. Stage 3 (paper sections 4.1-4.2):
CE + CTC + KD + Lipschitz with Algorithm 1 compilation, GlossAlign and
adaptive pruning.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from signx_jax import gloss_align, schema
from signx_jax.decoding.attention import greedy_autoregressive
from signx_jax.decoding.model import decode_pose2gloss
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.models.video2pose import Video2PoseModel, colour_jitter
from signx_jax.train import losses
from signx_jax.train.state import Step


@runtime_checkable
class Task(Protocol):
    """The contract between one SignX stage and the generic loop.

    ``step`` is a ``signx_jax.train.state.Step``, passed once per micro-batch:
    schedules read ``step.update`` (optimizer updates, what ``train.total_steps``
    counts), random keys fold in ``step.micro`` (one per micro-batch), and
    once-per-update changes wait for ``step.applies``. ``Trainer.set_decode_method``
    may also set a ``decode_method`` attribute before re-tracing ``eval_fn``, and
    passes its decoder knobs (traced floats) to ``eval_fn`` as keyword arguments.
    """

    name: str  # the stage's name in logs and configs ("pose2gloss", "cslr", ...)
    features: tuple[str, ...]  # the inputs its batches carry ("poses", "rgb", "latent")
    trainable: Any  # NNX filter of the trained variables; the rest is frozen or state

    def build_model(self, rngs: nnx.Rngs) -> nnx.Module: ...

    def init_aux(self) -> Any:
        """State outside the model (e.g. the pruning mask), a pytree of arrays."""
        ...

    def update_aux(self, aux: Any, stats: Any, step: Step) -> Any:
        """New ``aux`` from the ``aux_stats`` of ``loss_fn`` (inside the jitted step)."""
        ...

    def loss_fn(
        self, model: nnx.Module, aux: Any, batch: dict[str, jax.Array], step: Step
    ) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
        """-> (loss, (metrics, aux_stats)), traced inside the jitted micro-step."""
        ...

    def eval_fn(self, model: nnx.Module, aux: Any, batch: dict[str, jax.Array]) -> dict:
        """Compiled, per batch: the outputs ``summarize_eval`` reads."""
        ...

    def summarize_eval(
        self,
        outputs: list[dict],
        vocab: Any,
        target_vocab: Any = None,
        *,
        source: Any,
        dataset: str,
    ) -> dict[str, float]:
        """Host, per split: the gathered ``eval_fn`` outputs of ``source`` -> metrics."""
        ...


def _targets(batch):
    """labels [B, L] -> decoder targets (with EOS), mask, and BOS-shifted inputs."""
    targets, mask = losses.append_eos(batch["labels"], batch["label_lengths"])
    return targets, mask, losses.shift_right(targets)


def gloss_summary(
    outputs: list[dict], vocab, *, source, dataset: str, key: str = "hyp"
) -> dict[str, float]:
    """Dev WER of the gloss hypotheses ``outputs[k][key]`` against the annotation
    of each record of ``source``, after ``dataset``'s clean-up: the report's WER
    (``signx_jax.evaluate``), so the checkpoints kept are the ones the report scores."""
    from signx_jax import evaluate

    refs, hyps = evaluate.sentences(outputs, source, vocab, key=key)
    return evaluate.gloss_wer(refs, hyps, dataset=dataset)


class Pose2GlossTask:
    name = "pose2gloss"
    features = ("poses",)
    trainable = nnx.Param

    def __init__(self, cfg: ml_collections.ConfigDict, vocab_size: int):
        self.cfg, self.vocab_size = cfg, vocab_size

    def build_model(self, rngs: nnx.Rngs) -> nnx.Module:
        return Pose2Gloss(self.cfg.model, self.vocab_size, rngs=rngs)

    def init_aux(self):
        return {}

    def update_aux(self, aux, stats, step):
        return aux

    def loss_fn(self, model, aux, batch, step):
        cfg = self.cfg.loss
        rng = jax.random.fold_in(jax.random.key(self.cfg.seed), step.micro)
        poses = batch["poses"]
        if cfg.get("pose_noise", 0.0):
            poses = _pose_noise(jax.random.fold_in(rng, 1), poses, batch["frame_mask"],
                                cfg.pose_noise)  # fmt: skip
        z = model.encode(poses, batch["presence"], batch["frame_mask"], deterministic=False)
        targets, tmask, tokens_in = _targets(batch)
        ratio = losses.scheduled_teacher_forcing_ratio(
            step.update,
            self.cfg.train.total_steps,
            cfg.teacher_forcing_start,
            cfg.teacher_forcing_end,
        )
        first = model.decode(z, batch["frame_mask"], tokens_in, deterministic=False)
        mixed = losses.scheduled_decoder_inputs(rng, tokens_in, first, ratio)
        logits = model.decode(z, batch["frame_mask"], mixed, deterministic=False)
        l_text = losses.label_smoothed_ce(logits, targets, tmask, cfg.label_smoothing)
        l_word = losses.word_matching_loss(logits, targets, tmask, model.embedding_matrix())
        label_mask = jnp.arange(batch["labels"].shape[1])[None] < batch["label_lengths"][:, None]
        zv, zt = model.contrastive_embeddings(z, batch["frame_mask"], batch["labels"], label_mask)
        l_con = losses.info_nce(zv, zt, cfg.temperature, batch["valid"])
        loss = cfg.text_weight * l_text + cfg.word_weight * l_word + cfg.contrast_weight * l_con
        metrics = {"l_text": l_text, "l_word": l_word, "l_contrast": l_con}
        if cfg.get("ctc_weight", 0.0) > 0:  # frame-level gloss evidence in z
            logits = model.frame_gloss_logits(z, cfg.temperature)
            valid = batch["valid"]  # padding rows get frames, so no NaN reaches the gradient
            frames = batch["frame_mask"] | ~valid[:, None].astype(bool)
            per = losses.ctc(logits, frames, batch["labels"], label_mask)
            metrics["l_ctc"] = losses.ctc_mean(
                per, label_mask, normalize_by_length=False, valid=valid
            )
            loss = loss + cfg.ctc_weight * metrics["l_ctc"]
        return loss, (metrics, None)

    def eval_fn(self, model, aux, batch):
        z = model.encode(batch["poses"], batch["presence"], batch["frame_mask"], deterministic=True)
        max_len = self.cfg.data.max_label_len
        dec = self.cfg.get("decode") or {}
        if dec.get("method", "greedy") == "attention":
            tokens, _, _ = decode_pose2gloss(
                model, z, batch["frame_mask"], max_len=max_len, beam=dec["beam"],
                length_penalty=dec["length_penalty"],
                repetition_penalty=dec["repetition_penalty"],
            )  # fmt: skip
            return {"hyp": tokens[:, 0], **_passthrough(batch)}
        decode = lambda toks: model.decode(z, batch["frame_mask"], toks, deterministic=True)
        hyp = greedy_autoregressive(decode, z.shape[0], max_len + 1)  # + BOS
        # Cut each hypothesis at its first EOS.
        seen_eos = jnp.cumsum(hyp == schema.EOS_ID, axis=1) > 0
        hyp = jnp.where(seen_eos, -1, hyp)
        return {"hyp": hyp, **_passthrough(batch)}

    def summarize_eval(self, outputs, vocab, target_vocab=None, *, source, dataset="none"):
        return gloss_summary(outputs, vocab, source=source, dataset=dataset)


def _pose_noise(key, poses, frame_mask, scale: float):
    """poses + Gaussian noise of ``scale`` x each dimension's sd over the batch's real
    frames: stage 1 learns an encoder that tolerates pose errors such as Video2Pose's
    (ours; README "What the main job reaches")."""
    w = frame_mask.astype(poses.dtype)[..., None]
    n = jnp.maximum(jnp.sum(w), 1.0)
    mean = jnp.sum(poses * w, axis=(0, 1)) / n
    sd = jnp.sqrt(jnp.sum(jnp.square(poses - mean) * w, axis=(0, 1)) / n)
    return poses + scale * sd * jax.random.normal(key, poses.shape, poses.dtype) * w


def _passthrough(batch):
    return {k: batch[k] for k in ("valid", "labels", "label_lengths", "index")}


def pose_statistics(source, max_records: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and sd [1959] of the present frames of up to
    ``max_records`` evenly spaced records of ``source`` (Video2Pose's output scale).

    A dimension that never varies (or a stream never present) gets sd 1.
    """
    source = source.replace(decode_rgb=False) if hasattr(source, "replace") else source
    total = np.zeros(schema.POSE_DIM)
    square = np.zeros(schema.POSE_DIM)
    count = np.zeros(schema.POSE_DIM)
    offsets = list(schema.stream_offsets().values())
    for index in np.unique(
        np.linspace(0, len(source) - 1, min(len(source), max_records)).astype(int)
    ):
        record = source[int(index)]
        if record is None:  # corrupt record skipped by the source
            continue
        for k, (name, (start, end)) in enumerate(zip(schema.STREAM_NAMES, offsets, strict=True)):
            x = np.asarray(record["poses"][name], np.float64)[record["presence"][:, k]]
            total[start:end] += x.sum(0)
            square[start:end] += np.square(x).sum(0)
            count[start:end] += len(x)
    mean = total / np.maximum(count, 1)
    var = square / np.maximum(count, 1) - np.square(mean)
    sd = np.sqrt(np.maximum(var, 0.0))
    return mean.astype(np.float32), np.where(sd > 1e-6, sd, 1.0).astype(np.float32)


class Video2PoseTask:
    name = "video2pose"
    features = ("rgb", "poses")
    # Only Video2Pose trains: stage 1 has no gradient and no optimizer state.
    trainable = nnx.All(nnx.Param, nnx.PathContains("video2pose"))

    def __init__(
        self, cfg: ml_collections.ConfigDict, vocab_size: int, stage1_params=None, pose_stats=None
    ):
        """pose_stats: (mean, sd) of the training poses (``pose_statistics``):
        the heads then predict standardized poses. Restoring a checkpoint
        brings back the statistics it was trained with."""
        self.cfg, self.vocab_size, self.stage1_params = cfg, vocab_size, stage1_params
        self.pose_stats = pose_stats

    def build_model(self, rngs: nnx.Rngs) -> nnx.Module:
        model = Video2PoseModel(self.cfg, self.vocab_size, rngs=rngs)
        if self.stage1_params is not None:
            nnx.update(model.pose2gloss, self.stage1_params)
        if self.pose_stats is not None:
            model.video2pose.set_pose_statistics(*self.pose_stats)
        return model

    def init_aux(self):
        return {}

    def update_aux(self, aux, stats, step):
        return aux

    def _latents(self, model, batch, poses_hat):
        frozen = model.pose2gloss
        ones = jnp.ones_like(batch["presence"])
        z_hat = frozen.encode(poses_hat, ones, batch["frame_mask"], deterministic=True)
        z_ref = frozen.encode(
            batch["poses"], batch["presence"], batch["frame_mask"], deterministic=True
        )
        return z_hat, jax.lax.stop_gradient(z_ref)

    def loss_fn(self, model, aux, batch, step):
        cfg = self.cfg.loss
        rgb = batch["rgb"]
        if self.cfg.data.get("colour_jitter", 0.0):
            key = jax.random.fold_in(jax.random.key(self.cfg.seed), step.micro)
            rgb = colour_jitter(rgb, key, float(self.cfg.data.colour_jitter))
        poses_hat = model.video2pose(rgb, batch["frame_mask"], deterministic=False)
        mse, per_stream = losses.masked_mse_per_stream(
            poses_hat, batch["poses"], batch["presence"], batch["frame_mask"]
        )
        metrics = {f"mse_{k}": v for k, v in per_stream.items()}
        loss = mse
        if cfg.latent_weight:
            z_hat, z_ref = self._latents(model, batch, poses_hat)
            latent_mse = _masked_sq(z_hat - z_ref, batch["frame_mask"])
            loss = loss + cfg.latent_weight * latent_mse
            metrics["latent_mse"] = latent_mse
        metrics["pose_mse"] = mse
        return loss, (metrics, None)

    def eval_fn(self, model, aux, batch):
        poses_hat = model.video2pose(batch["rgb"], batch["frame_mask"], deterministic=True)
        mse, _ = losses.masked_mse_per_stream(
            poses_hat, batch["poses"], batch["presence"] & batch["valid"][:, None, None],
            batch["frame_mask"],
        )  # fmt: skip
        z_hat, z_ref = self._latents(model, batch, poses_hat)
        mask = batch["frame_mask"] & batch["valid"][:, None]
        return {"pose_mse": mse, "latent_mse": _masked_sq(z_hat - z_ref, mask)}

    def summarize_eval(self, outputs, vocab=None, target_vocab=None, **_):
        return {
            k: float(np.mean([np.asarray(o[k]) for o in outputs]))
            for k in ("pose_mse", "latent_mse")
        }


def activation_variance(compiled: jax.Array, frame_mask: jax.Array) -> jax.Array:
    """Per-dim variance of the compiled latent over valid frames (pruning statistic)."""
    z = jax.lax.stop_gradient(compiled).astype(jnp.float32)
    mask = frame_mask[..., None]
    n = jnp.maximum(jnp.sum(mask), 1)
    mean = jnp.sum(z * mask, axis=(0, 1)) / n
    return jnp.sum(jnp.square(z - mean) * mask, axis=(0, 1)) / n


def _masked_sq(diff, mask):
    per_frame = jnp.mean(jnp.square(diff), axis=-1)
    return jnp.sum(per_frame * mask) / jnp.maximum(jnp.sum(mask), 1)


class CSLRTask:
    name = "cslr"
    features = ("latent",)
    trainable = nnx.Param

    def __init__(self, cfg: ml_collections.ConfigDict, vocab_size: int, class_counts=None):
        self.cfg, self.vocab_size = cfg, vocab_size
        counts = np.ones(vocab_size) if class_counts is None else np.asarray(class_counts, float)
        self.class_weights = np.asarray(losses.inverse_frequency_weights(jnp.asarray(counts)))

    def build_model(self, rngs: nnx.Rngs) -> nnx.Module:
        from signx_jax.models.cslr import CSLR

        return CSLR(self.cfg.model, self.vocab_size, rngs=rngs)

    def init_aux(self):
        dim = self.cfg.model.latent_dim
        return {
            "prune_mask": jnp.ones((dim,), jnp.float32),
            "act_var": jnp.zeros((dim,), jnp.float32),
        }

    def update_aux(self, aux, stats, step):
        """Adaptive pruning: every K updates mask the dims with the lowest running
        activation variance, keeping ``keep_dims`` (paper eq. 8). The
        variance averages every micro-batch; the mask changes once, on the
        micro-step that completes the K-th update."""
        p = self.cfg.pruning
        if not p.enabled:
            return aux
        act_var = p.ema * aux["act_var"] + (1 - p.ema) * stats["act_var"]
        tau = jnp.sort(act_var)[-p.keep_dims]  # dynamic threshold
        done = step.update + 1  # updates applied once this one is
        due = step.applies & (done % p.every == 0) & (done >= p.start)
        mask = jnp.where(due, (act_var >= tau).astype(jnp.float32), aux["prune_mask"])
        return {"prune_mask": mask, "act_var": act_var}

    def _frame_gloss(self, batch, out):
        num_t = batch["frame_mask"].shape[1]
        from_spans = gloss_align.frames_from_spans(
            batch["gloss_spans"], batch["labels"], batch["label_lengths"], num_t
        )
        log_probs = jax.nn.log_softmax(jax.lax.stop_gradient(out["ctc_logits"]).astype(jnp.float32))
        from_ctc = gloss_align.frames_from_ctc(
            log_probs, out["out_lengths"], batch["labels"], batch["label_lengths"], num_t,
            blank=schema.BLANK_ID,
        )  # fmt: skip
        has_spans = jnp.any(batch["gloss_spans"][..., 0] >= 0, axis=1, keepdims=True)
        frame_gloss = jnp.where(has_spans, from_spans, from_ctc)
        return jnp.where(batch["frame_mask"], frame_gloss, -1)

    def regularizers(self, batch, out, metrics: dict) -> jax.Array:
        """Gloss-aware distillation (teacher frame CE + weighted KD) and the
        Lipschitz penalty; adds their terms to ``metrics``."""
        cfg = self.cfg.loss
        total = jnp.zeros((), jnp.float32)
        if out.get("teacher_logits") is not None and cfg.kd_weight:
            frame_gloss = self._frame_gloss(batch, out)
            l_teacher = losses.label_smoothed_ce(
                out["teacher_logits"], jnp.maximum(frame_gloss, 0), frame_gloss >= 0, 0.0
            )
            l_kd = losses.kd_loss(
                out["student_logits"], out["teacher_logits"], batch["frame_mask"], frame_gloss,
                jnp.asarray(self.class_weights), cfg.kd_temperature,
            )  # fmt: skip
            total = total + cfg.kd_weight * (l_kd + l_teacher)
            metrics.update(l_kd=l_kd, l_teacher=l_teacher)
        if cfg.lipschitz_weight:
            l_lip = losses.lipschitz_penalty(out["enc"], out["enc_mask"], cfg.lipschitz_bound)
            total = total + cfg.lipschitz_weight * l_lip
            metrics["l_lipschitz"] = l_lip
        return total

    def loss_fn(self, model, aux, batch, step):
        cfg = self.cfg.loss
        targets, tmask, tokens_in = _targets(batch)
        out = model(
            batch[self.features[0]], batch["frame_mask"], aux["prune_mask"], tokens_in,
            deterministic=False,
        )  # fmt: skip
        label_mask = jnp.arange(batch["labels"].shape[1])[None] < batch["label_lengths"][:, None]
        ctc_per = losses.ctc(
            out["ctc_logits"], out["enc_mask"], batch["labels"], label_mask, schema.BLANK_ID
        )
        l_ctc = losses.ctc_mean(
            ctc_per, label_mask, normalize_by_length=False, valid=batch["valid"]
        )
        loss = cfg.ctc_weight * l_ctc
        metrics = {"l_ctc": l_ctc}
        if out.get("dec_logits") is not None:
            l_ce = losses.label_smoothed_ce(out["dec_logits"], targets, tmask, cfg.label_smoothing)
            loss = loss + cfg.ce_weight * l_ce
            metrics["l_ce"] = l_ce
        loss = loss + self.regularizers(batch, out, metrics)
        metrics["kept_dims"] = jnp.sum(aux["prune_mask"])
        act_var = activation_variance(out["compiled"], batch["frame_mask"])
        return loss, (metrics, {"act_var": act_var})

    # Training-time dev evaluation decodes greedily (cheap); the final report
    # sets ``decode_method`` from ``cfg.decode.method`` (see evaluate.py).
    decode_method = "ctc_greedy"

    def eval_fn(self, model, aux, batch, **knobs):
        """Decode with ``decode_method`` and ``cfg.decode``; ``knobs`` (traced
        ``ctc_weight`` / ``length_penalty``) override the config's values."""
        from signx_jax.decoding.model import decode_cslr

        out = model(
            batch[self.features[0]], batch["frame_mask"], aux["prune_mask"], None,
            deterministic=True,
        )  # fmt: skip
        d = self.cfg.decode
        knobs = {"length_penalty": d.length_penalty, "ctc_weight": d.ctc_weight, **knobs}
        tokens, _, _ = decode_cslr(
            model, out, method=self.decode_method, beam=d.beam,
            max_len=self.cfg.data.max_label_len + 1, entropy_alpha=d.entropy_alpha,
            repetition_penalty=d.repetition_penalty, **knobs,
        )  # fmt: skip
        hyp = tokens[:, 0]
        return {"hyp": hyp, "ctc_logits": out["ctc_logits"], "out_lengths": out["out_lengths"],
                **_passthrough(batch)}  # fmt: skip

    def summarize_eval(self, outputs, vocab, target_vocab=None, *, source, dataset="none"):
        return gloss_summary(outputs, vocab, source=source, dataset=dataset)


class PixelCSLRTask(CSLRTask):
    """Stage 3 on the RGB frames (paper Table 8, pixel space): the CSLR task with a
    frame encoder in front (``signx_jax/models/pixel.py``), no latent cache."""

    features = ("rgb",)

    def build_model(self, rngs: nnx.Rngs) -> nnx.Module:
        from signx_jax.models.pixel import PixelCSLR

        return PixelCSLR(self.cfg.model, self.vocab_size, rngs=rngs)
