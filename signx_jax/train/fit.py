"""The training driver: data -> steps -> logs -> dev evaluation -> checkpoints.

``fit`` resumes automatically from the newest complete checkpoint in
``workdir``, evaluates on dev every ``train.eval_every`` steps (saving a
checkpoint scored by dev WER, so the best five are kept), saves a resume
checkpoint every ``train.checkpoint_every`` steps, and on SIGTERM/SIGINT
finishes the update, saves state + iterator, waits for the write and returns.

A step here is an optimizer update: ``optim.grad_accum_steps`` micro-batches
(``signx_jax/train/loop.py``). ``total_steps``, ``max_steps``, the intervals
above, checkpoint numbers and logged steps all count updates; logging,
evaluation, saving and preemption happen only between updates.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import TYPE_CHECKING

import jax
import ml_collections
from clu import metric_writers

from signx_jax import checkpoint as ckpt_lib
from signx_jax.data import pipeline
from signx_jax.evaluate import run_eval
from signx_jax.sharding import to_global
from signx_jax.train import faults
from signx_jax.train.loop import Trainer, TrainingDiverged, _Preemption, check_workdir
from signx_jax.train.mfu import Throughput, describe

if TYPE_CHECKING:
    from signx_jax.train.tasks import Task

log = logging.getLogger("signx.train")


@dataclasses.dataclass
class FitResult:
    trainer: Trainer
    step: int
    status: str  # "done" | "preempted"
    dev_metrics: dict[str, float]
    history: list[dict[str, float]]


def evaluate(trainer: Trainer, source, vocab, *, target_vocab=None, desc: str = "eval") -> dict:
    """One deterministic pass over ``source`` (``signx_jax.evaluate.run_eval``); the task
    turns the outputs into metrics against the records' annotation text, after the
    clean-up of the config's ``dataset`` (the same numbers as the final report)."""
    outputs = run_eval(trainer, source, vocab, target_vocab=target_vocab, desc=desc)
    return trainer.task.summarize_eval(
        outputs, vocab=vocab, target_vocab=target_vocab, source=source,
        dataset=trainer.cfg.get("dataset") or "none",
    )  # fmt: skip


def fit(
    cfg: ml_collections.ConfigDict,
    task: Task,
    *,
    train_source,
    dev_source,
    vocab,
    workdir: str,
    target_vocab=None,
    max_steps: int | None = None,
    init_from: tuple[str, int] | None = None,
) -> FitResult:
    """Train ``task`` to ``cfg.train.total_steps`` updates (or stop early at
    ``max_steps`` updates), k = ``optim.grad_accum_steps`` micro-batches each.

    ``init_from=(stage_workdir, k)``: fine-tune, starting from the mean of that run's
    best ``k`` checkpoints (its model variables and prune mask; the optimizer and the
    step count start afresh), unless ``workdir`` has a checkpoint to resume."""
    check_workdir(workdir)
    trainer = Trainer(cfg, task)
    # Room for the latest + best-k checkpoints + one being written (issue 9).
    faults.check_free_space(
        workdir, trainer.state, copies=cfg.train.keep_best + 2,
        min_free_bytes=cfg.train.get("min_free_bytes", 0),
    )  # fmt: skip
    total = int(cfg.train.total_steps)
    stop_at = total if max_steps is None else min(total, max_steps)
    train_it = pipeline.make_train_iterator(
        train_source,
        vocab,
        batch_size=cfg.data.batch_size,
        buckets=cfg.data.buckets,
        seed=cfg.seed,
        features=task.features,
        max_label_len=cfg.data.max_label_len,
        worker_count=cfg.data.worker_count,
        read_threads=cfg.data.get("read_threads", 4),
        prefetch_batches=cfg.data.get("prefetch_batches", 8),
        target_vocab=target_vocab,
        window=cfg.data.get("train_window") or None,
    )
    ckpt = ckpt_lib.Checkpointer(
        os.path.join(workdir, "checkpoints"),
        keep_best=cfg.train.keep_best,
        metric=cfg.train.best_metric,
        async_save=cfg.train.async_checkpoints,
    )
    step = 0  # optimizer updates applied
    latest = ckpt.latest_step()
    if latest is not None:
        _check_same_model(ckpt, latest, cfg)
        trainer.restore_state(ckpt.restore(latest, trainer.abstract_state(), data_iter=train_it))
        step, _ = trainer.counters()
        log.info("resumed from %s at step %d", ckpt.directory, step)
    elif init_from is not None:
        fresh = trainer.state
        steps = ckpt_lib.restore_released(trainer, *init_from)
        released = trainer.state
        trainer.restore_state(fresh.replace(params=released.params, rest=released.rest,
                                            aux=released.aux))  # fmt: skip
        log.info("fine-tuning the mean of %s checkpoints %s", init_from[0], steps)
    writer = metric_writers.create_default_writer(
        os.path.join(workdir, "tb"), just_logging=jax.process_index() > 0
    )
    config_json = cfg.to_dict()
    history: list[dict[str, float]] = []
    dev_metrics: dict[str, float] = {}
    status = "done"
    t0, step0 = time.perf_counter(), step
    perf, perf_step = Throughput(trainer), step  # perf/* scalars since the last log
    policy, nonfinite_inputs, saved_step = cfg.data.get("nonfinite_inputs", "mask"), 0, step

    def save(metrics=None):
        nonlocal saved_step
        if step == saved_step:  # e.g. SIGTERM right after a scheduled save: orbax
            return  # refuses a second save of one step (StepAlreadyExistsError)
        ckpt.save(step, trainer.state, data_iter=train_it, config=config_json, metrics=metrics)
        saved_step = step

    with _Preemption() as preemption:
        while step < stop_at:
            batch, bad = faults.sanitize_batch(
                next(train_it), policy, where=f"train {train_source!r}"
            )
            nonfinite_inputs += bad
            global_batch = to_global(batch, trainer.mesh)
            metrics = trainer.train_step(global_batch)
            perf.add(batch, global_batch)
            done, streak = trainer.counters()
            if streak >= cfg.train.max_nonfinite_streak:
                save()  # under the update count reached; kept as is if saved already
                ckpt.wait()
                raise TrainingDiverged(
                    f"{streak} consecutive non-finite micro-steps after step {step}: "
                    f"stopped; last good state saved in {ckpt.directory}"
                )
            if done == step:  # inside an update, or a skipped non-finite micro-batch
                continue
            step = done
            if step % cfg.train.log_every == 0 or step == stop_at:
                scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
                scalars["nonfinite_total"] = float(jax.device_get(trainer.state.nonfinite_total))
                scalars["nonfinite_inputs"] = float(nonfinite_inputs)  # records masked, this run
                elapsed = time.perf_counter() - t0
                steps_s = (step - step0) / max(elapsed, 1e-9)  # updates, for the ETA
                scalars.update(perf.scalars(step - perf_step))
                perf_step = step
                writer.write_scalars(step, scalars)
                history.append(dict(scalars, step=step))
                eta = (stop_at - step) / max(steps_s, 1e-9)
                log.info(
                    "[%s] step %d/%d loss %.4f | %s | ETA %.0fs",
                    task.name, step, stop_at, scalars["loss"], describe(scalars), eta,
                )  # fmt: skip
            paused = time.perf_counter()  # evaluation and saving: not step time
            evaluate_now = cfg.train.eval_every and (
                step % cfg.train.eval_every == 0 or step == stop_at
            )
            if evaluate_now and dev_source is not None:
                dev_metrics = evaluate(trainer, dev_source, vocab, target_vocab=target_vocab)
                writer.write_scalars(step, {f"dev_{k}": v for k, v in dev_metrics.items()})
                log.info("[%s] step %d dev %s", task.name, step, _fmt(dev_metrics))
                save({f"dev_{k}": float(v) for k, v in dev_metrics.items()})
            elif step % cfg.train.checkpoint_every == 0 or step == stop_at:
                save()
            perf.pause(time.perf_counter() - paused)
            if preemption.requested:
                save()
                status = "preempted"
                break
    ckpt.wait()
    writer.flush()
    ckpt.close()
    skipped = getattr(train_source, "num_corrupt", 0)
    if skipped:  # data.skip_corrupt=True (counted in this process; workers keep their own)
        log.warning("[%s] skipped %d corrupt training records (data.skip_corrupt)",
                    task.name, skipped)  # fmt: skip
    return FitResult(trainer, step, status, dev_metrics, history)


def _check_same_model(ckpt, step: int, cfg) -> None:
    """Refuse to resume a run whose checkpoint was made with another model config."""
    try:
        saved = ckpt.restore_config(step).get("model", {})
    except Exception:  # noqa: BLE001 - an old checkpoint without config: let restore decide
        return
    current = json.loads(json.dumps(cfg.model.to_dict()))  # tuples -> lists, as saved
    diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if diff:
        raise ValueError(
            f"{ckpt.directory} step {step} was trained with another model config "
            f"(differs in {', '.join(f'model.{k}' for k in diff)}); "
            "use a new --workdir or the same config"
        )


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))


__all__ = ["FitResult", "evaluate", "fit"]
