"""Orbax checkpoints for every stage (paper section 4.2; README "Design").

One checkpoint step holds three items written together:
  * ``state``: the train state pytree (params, optimizer state, model
    variables such as BatchNorm statistics and the pruning mask, step);
  * ``data_iter``: the Grain iterator state (one JSON file per process, so
    multi-host input resumes exactly where each host stopped);
  * ``config``: the run's config as JSON, so a checkpoint says how it was made.

Retention is an orbax preservation policy: the latest step (for resume) plus
the best ``keep_best`` by dev WER (lower is better). Ties go to the later step
(it trained longer): orbax's BestN sorts with Python's stable sort and keeps
the later of tied checkpoints, and ``best_steps`` ranks them the same way, so
what is kept, its order and the released average are a function of the
(step, metric) history alone. Saves are asynchronous;
``wait()`` blocks until the last one is durable. Orbax writes into a temporary
directory and renames it when complete, so a crash mid-save never leaves a
checkpoint that ``latest_step`` would pick.

Checkpoint averaging (the released model is the mean of the best five) is not
shipped by orbax; ``average_params`` is ours.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as ocm

STATE, DATA_ITER, CONFIG = "state", "data_iter", "config"


class Checkpointer:
    """Thin wrapper around ``ocp.CheckpointManager`` with SignX's policy."""

    def __init__(
        self,
        directory: str,
        *,
        keep_best: int = 5,
        metric: str = "dev_wer",
        async_save: bool = True,
        read_only: bool = False,
    ):
        self.directory = os.path.abspath(directory)
        self.metric = metric
        policy = ocm.AnyPreservationPolicy(
            [
                ocm.LatestN(1),
                ocm.BestN(
                    get_metric_fn=lambda m: m[metric],
                    reverse=True,  # keep the lowest WER
                    n=keep_best,
                    keep_checkpoints_without_metrics=False,
                ),
            ]
        )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policy,
            # Orbax writes metrics to disk only when best_fn is set; without
            # them a restarted run would see metric-less checkpoints, BestN
            # would delete the old best five, and best_steps() would be empty.
            best_fn=lambda m: m[metric],
            best_mode="min",
            enable_async_checkpointing=async_save,
            read_only=read_only,
            create=not read_only,
        )
        self.manager = ocp.CheckpointManager(
            self.directory,
            item_names=(STATE, DATA_ITER, CONFIG),
            item_handlers={
                STATE: ocp.StandardCheckpointHandler(),
                DATA_ITER: grain.checkpoint.CheckpointHandler(),
                CONFIG: ocp.JsonCheckpointHandler(),
            },
            options=options,
        )

    # -- save ---------------------------------------------------------------
    def save(
        self,
        step: int,
        state: Any,
        *,
        data_iter: Any | None = None,
        config: dict | None = None,
        metrics: dict[str, float] | None = None,
        force: bool = True,
    ) -> bool:
        items = {STATE: ocp.args.StandardSave(state)}
        if data_iter is not None:
            items[DATA_ITER] = grain.checkpoint.CheckpointSave(data_iter)
        if config is not None:
            items[CONFIG] = ocp.args.JsonSave(config)
        return self.manager.save(
            step, args=ocp.args.Composite(**items), metrics=metrics, force=force
        )

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    # -- restore ------------------------------------------------------------
    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def restore(self, step: int, abstract_state: Any, *, data_iter: Any | None = None) -> Any:
        """Restore ``state`` (onto the shardings in ``abstract_state``) and,
        if given, the iterator in place. ``abstract_state`` is a pytree of
        ``jax.ShapeDtypeStruct`` carrying the target ``NamedSharding``s, so a
        checkpoint written on one mesh restores onto any other."""
        items = {STATE: ocp.args.StandardRestore(abstract_state)}
        if data_iter is not None:
            items[DATA_ITER] = grain.checkpoint.CheckpointRestore(data_iter)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        return restored[STATE]

    def restore_config(self, step: int) -> dict:
        restored = self.manager.restore(
            step, args=ocp.args.Composite(**{CONFIG: ocp.args.JsonRestore()})
        )
        return restored[CONFIG]

    def best_steps(self, k: int) -> list[int]:
        """Steps of the ``k`` lowest-metric checkpoints still on disk, best first;
        of two with the same metric the later step ranks first (the rule orbax's
        BestN keeps them by, see the module docstring)."""
        scored = []
        for step in self.all_steps():
            metrics = self.manager.metrics(step) or {}
            if self.metric in metrics:
                scored.append((float(metrics[self.metric]), -step))
        return [-neg_step for _, neg_step in sorted(scored)[:k]]


def abstract_like(tree: Any) -> Any:
    """Pytree of ShapeDtypeStructs (with shardings) describing ``tree``."""

    def one(x):
        if isinstance(x, jax.Array):
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
        x = np.asarray(x)
        return jax.ShapeDtypeStruct(x.shape, x.dtype)

    return jax.tree.map(one, tree)


def average_params(param_trees: Sequence[Any]) -> Any:
    """Element-wise mean of parameter pytrees, accumulated in float32 and cast
    back to each leaf's dtype; integer leaves (counters) are taken from the first."""
    if not param_trees:
        raise ValueError("average_params: no checkpoints to average")
    n = len(param_trees)

    def mean(*leaves):
        first = leaves[0]
        if not jnp.issubdtype(jnp.asarray(first).dtype, jnp.floating):
            return first
        total = sum(jnp.asarray(x, jnp.float32) for x in leaves)
        return (total / n).astype(jnp.asarray(first).dtype)

    return jax.tree.map(mean, *param_trees)


# -- a trainer's state from a run directory (the one place checkpoints are read) -----


def restore_latest(trainer, workdir: str, step: int | None = None) -> int:
    """Load the newest complete checkpoint of ``<workdir>/checkpoints`` (or checkpoint
    ``step``) into ``trainer`` (anything with ``abstract_state`` / ``restore_state``,
    e.g. ``signx_jax.train.loop.Trainer``); returns its step."""
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
    try:
        step = ckpt.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint under {ckpt.directory}")
        trainer.restore_state(ckpt.restore(step, trainer.abstract_state()))
    finally:
        ckpt.close()
    return step


def restore_released(trainer, workdir: str, k: int) -> list[int]:
    """Load the released model into ``trainer``: the parameter mean of the best
    ``k`` checkpoints by ``trainer.cfg.train.best_metric`` (the rest of the state,
    e.g. the prune mask, from the best one). Returns their steps, best first."""
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), metric=trainer.cfg.train.best_metric,
                        read_only=True)  # fmt: skip
    try:
        steps = ckpt.best_steps(k)
        if not steps:
            raise FileNotFoundError(f"no checkpoint with dev metrics under {ckpt.directory}")
        states = [ckpt.restore(s, trainer.abstract_state()) for s in steps]
    finally:
        ckpt.close()
    trainer.restore_state(states[0].replace(params=average_params([s.params for s in states])))
    return steps


def saved_config(workdir: str) -> dict:
    """The config saved with the newest checkpoint of ``<workdir>/checkpoints``
    (no model is built); FileNotFoundError names the directory when there is none."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: no checkpoints")
    ckpt = Checkpointer(directory, read_only=True)
    try:
        step = ckpt.latest_step()
        if step is None:
            raise FileNotFoundError(f"{directory}: no complete checkpoint")
        return ckpt.restore_config(step)
    finally:
        ckpt.close()
