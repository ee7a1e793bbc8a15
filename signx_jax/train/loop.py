"""One generic train loop for all three SignX stages (paper sections 3.2-4.2; README "Design").

Read top to bottom like big_vision's train.py:

  mesh -> input pipeline -> model + optimizer -> shard and transfer ->
  update step -> checkpoint/resume -> loop (log, evaluate, save, preempt).

A stage contributes a small ``Task`` (see ``signx_jax/train/tasks.py``):
how to build its model, its loss, its evaluation and any extra state. The
loop owns everything else, so all stages get the same sharding, donation,
NaN handling, checkpointing and preemption behaviour.

Counting: the compiled step is one *micro-step* on one micro-batch;
``optim.grad_accum_steps`` finite micro-steps make one optimizer *update*
(optax.MultiSteps). Every step number a user sees counts updates
(``train.total_steps``, ``eval_every``, ``log_every``, ``checkpoint_every``,
checkpoint numbers, the logged step and lr); ``TrainState.step`` counts
micro-steps and ``state.step_of`` converts (see there for skipped ones).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from signx_jax import checkpoint as ckpt_lib
from signx_jax import sharding as shd
from signx_jax.train import faults
from signx_jax.train.optimizers import accum_steps, make_optimizer
from signx_jax.train.state import TrainState, select_tree, step_of

if TYPE_CHECKING:
    from signx_jax.train.tasks import Task

log = logging.getLogger("signx.train")


class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite micro-steps; the last good state is saved."""


class _Preemption:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):  # noqa: ARG002
        log.warning("signal %d received: finishing the step, then saving", signum)
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def check_workdir(workdir: str) -> None:
    """Fail before any compile if the work dir cannot take a checkpoint."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write-probe-{jax.process_index()}")
        with open(probe, "wb") as f:
            f.write(b"\0" * (1 << 20))
        os.remove(probe)
    except OSError as e:
        raise OSError(f"work dir {workdir!r} is not writable ({e}); fix it before training") from e


# -- shard and transfer (batches: ``sharding.to_global``) -----------------------


def _state_shardings(state: TrainState, tx: optax.GradientTransformation, mesh) -> Any:
    """Params and rest from their logical axes; optimizer moments follow params."""
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    param_sh = shd.model_shardings(state.params, mesh)
    rest_sh = shd.model_shardings(state.rest, mesh)
    opt_sh = optax.tree_map_params(
        tx,
        lambda _, s: s,
        state.opt_state,
        param_sh,
        transform_non_params=lambda _: replicated,
        is_leaf=lambda x: isinstance(x, jax.sharding.NamedSharding),
    )
    return TrainState(
        step=replicated,
        params=param_sh,
        rest=rest_sh,
        opt_state=opt_sh,
        aux=jax.tree.map(lambda _: replicated, state.aux),
        nonfinite_total=replicated,
        nonfinite_streak=replicated,
    )


def mesh_from_config(mesh_cfg) -> jax.sharding.Mesh:
    """The (data, fsdp, tensor) mesh of a config; with no -1 axis, a mesh smaller
    than the machine takes the first devices (e.g. one device of eight)."""
    sizes = dict(mesh_cfg)
    devices = None
    if all(v > 0 for v in sizes.values()):
        devices = jax.devices()[: int(np.prod(list(sizes.values())))]
    return shd.make_mesh(**sizes, devices=devices)


# -- the trainer ----------------------------------------------------------------------


class Trainer:
    """Builds the sharded state and compiled steps of one stage's ``Task``."""

    def __init__(
        self, cfg: ml_collections.ConfigDict, task: Task, mesh: jax.sharding.Mesh | None = None
    ):
        faults.validate_config(cfg, check_mesh=mesh is None)  # before any compile (issue 9)
        self.cfg, self.task = cfg, task
        self.mesh = mesh or mesh_from_config(cfg.mesh)
        self.tx, self.schedule = make_optimizer(cfg.optim, cfg.train.total_steps)

        with jax.set_mesh(self.mesh):
            model = task.build_model(nnx.Rngs(cfg.seed))
            self.graphdef, params, rest = nnx.split(model, task.trainable, ...)
            abstract = jax.eval_shape(
                lambda p, r: TrainState.create(p, r, self.tx.init(p), task.init_aux()),
                params,
                rest,
            )
            self.state_sharding = _state_shardings(abstract, self.tx, self.mesh)
            create = jax.jit(
                lambda p, r: TrainState.create(p, r, self.tx.init(p), task.init_aux()),
                out_shardings=self.state_sharding,
            )
            self.state = create(params, rest)
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        self._train_step = jax.jit(self._step, donate_argnums=(0,))
        self._eval_step = jax.jit(self._eval)
        # Compiled eval steps by (decode method, knob names), see set_decode_method; the
        # task's own method starts with the step fit's dev evaluation compiles.
        self._eval_steps: dict[tuple, Any] = {
            (getattr(task, "decode_method", None), ()): self._eval_step
        }
        self._decode_knobs: dict[str, jax.Array] = {}

    # -- update step -------------------------------------------------------------
    def _step(self, state: TrainState, batch: dict[str, jax.Array]):
        """One micro-step; the task sees its ``Step`` (update index for
        schedules, micro index for random keys)."""
        task, graphdef = self.task, self.graphdef
        at = step_of(state.step, state.nonfinite_total, accum_steps(self.cfg.optim))

        def loss_of(params, rest):
            model = nnx.merge(graphdef, params, rest, copy=True)
            loss, (metrics, aux_stats) = task.loss_fn(model, state.aux, batch, at)
            _, _, new_rest = nnx.split(model, task.trainable, ...)
            return loss, (metrics, aux_stats, new_rest)

        (loss, (metrics, aux_stats, new_rest)), grads = jax.value_and_grad(loss_of, has_aux=True)(
            state.params, state.rest
        )
        # One scalar decides: a NaN or inf in any gradient makes the global norm
        # non-finite (so does a norm past float32's range, ~1.8e19: a divergence
        # too). A per-leaf all-finite reduction would be copied by XLA into the
        # fusion of every state leaf's select below: on CPU that made the
        # stage-3 step compile 2.7x longer (52 s against 19 s at tiny size).
        grad_norm = optax.global_norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, new_opt = self.tx.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        new_aux = task.update_aux(state.aux, aux_stats, at)
        # A non-finite micro-step changes nothing but the counters (issue 9):
        # MultiSteps neither accumulates nor counts it, and ``step_of`` leaves
        # it out of the update count, so fit draws one more micro-batch.
        new_state = state.replace(
            step=state.step + 1,
            params=select_tree(finite, new_params, state.params),
            rest=select_tree(finite, new_rest, state.rest),
            opt_state=select_tree(finite, new_opt, state.opt_state),
            aux=select_tree(finite, new_aux, state.aux),
            nonfinite_total=state.nonfinite_total + (~finite).astype(jnp.int32),
            nonfinite_streak=jnp.where(finite, 0, state.nonfinite_streak + 1),
        )
        metrics = dict(metrics, loss=loss, grad_norm=grad_norm)
        metrics["lr"] = self.schedule(at.update)  # the lr of the update this feeds
        metrics["finite"] = finite.astype(jnp.float32)
        return new_state, metrics

    def _eval(self, state: TrainState, batch: dict[str, jax.Array], knobs: dict[str, jax.Array]):
        model = nnx.merge(self.graphdef, state.params, state.rest, copy=True)
        return self.task.eval_fn(model, state.aux, batch, **knobs)

    def set_decode_method(self, method: str, **knobs: float) -> None:
        """Switch the task's evaluation decoding (``task.decode_method``). ``knobs``
        (float options of the decoder, e.g. ``ctc_weight``, ``length_penalty``) are
        traced arguments: trying many values compiles once. Each (method, knob
        names) keeps its own compiled step, so switching back costs nothing."""
        key = (method, tuple(sorted(knobs)))
        if key not in self._eval_steps:

            def evaluate(state, batch, knobs):
                self.task.decode_method = method  # read by eval_fn while tracing
                return self._eval(state, batch, knobs)

            self._eval_steps[key] = jax.jit(evaluate)
        self.task.decode_method = method
        self._eval_step = self._eval_steps[key]
        self._decode_knobs = {k: jnp.float32(v) for k, v in knobs.items()}

    def train_step(self, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        with jax.set_mesh(self.mesh):
            self.state, metrics = self._train_step(self.state, batch)
        return metrics

    def lower_train_step(self, batch: dict[str, jax.Array]) -> jax.stages.Lowered:
        """The train step lowered for ``batch`` as ``train_step`` traces it: for XLA's
        cost analysis (``models/summary.py``) or the compiled program's text."""
        with jax.set_mesh(self.mesh):
            return self._train_step.lower(self.state, batch)

    def counters(self) -> tuple[int, int]:
        """(optimizer updates applied, consecutive non-finite micro-steps), on the host."""
        s = self.state
        step, skipped, streak = (
            int(x) for x in jax.device_get((s.step, s.nonfinite_total, s.nonfinite_streak))
        )
        return int(step_of(step, skipped, accum_steps(self.cfg.optim)).update), streak

    def eval_step(self, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        with jax.set_mesh(self.mesh):
            return self._eval_step(self.state, batch, self._decode_knobs)

    def model(self) -> nnx.Module:
        """The current model as an NNX module (shares arrays with the state)."""
        return nnx.merge(self.graphdef, self.state.params, self.state.rest)

    def abstract_state(self) -> Any:
        return ckpt_lib.abstract_like(self.state)

    def restore_state(self, state: TrainState) -> None:
        self.state = jax.device_put(state, self.state_sharding)
