"""The functional train state shared by every stage.

A Flax NNX model is split once into a static ``graphdef`` and two state
pytrees: the trainable parameters and everything else (BatchNorm statistics,
RNG stream counters, frozen sub-models). The train step is then a pure
function of ``TrainState``, which is what ``jax.jit`` shards and donates and
what orbax saves. ``aux`` holds stage-specific state that is not part of the
model, such as the CSLR pruning mask and its running activation variance.

One call of the step is a *micro-step* on one micro-batch; an optimizer
*update* is ``optim.grad_accum_steps`` finite micro-steps (optax.MultiSteps).
``Step`` tells a task where a micro-step sits, in both counts.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: micro-steps taken (skipped ones included)
    params: Any  # nnx.State of the trainable parameters
    rest: Any  # nnx.State of all other model variables
    opt_state: Any
    aux: Any  # stage-specific pytree (e.g. {"prune_mask": [D], "act_var": [D]})
    nonfinite_total: jax.Array  # int32: micro-steps skipped for NaN/Inf so far
    nonfinite_streak: jax.Array  # int32: consecutive skipped micro-steps

    @classmethod
    def create(cls, params: Any, rest: Any, opt_state: Any, aux: Any = None) -> TrainState:
        zero = jnp.zeros((), jnp.int32)
        return cls(
            step=zero,
            params=params,
            rest=rest,
            opt_state=opt_state,
            aux={} if aux is None else aux,
            nonfinite_total=zero,
            nonfinite_streak=zero,
        )


@flax.struct.dataclass
class Step:
    """Where a micro-step sits in training; the ``step`` a Task's ``loss_fn``
    and ``update_aux`` receive.

    update: updates applied before this micro-step, i.e. the index of the
      update it contributes to. Schedules count this (lr, teacher forcing,
      pruning period), so ``train.total_steps`` means updates everywhere.
    micro: micro-steps taken before this one, skipped ones included. Random
      keys fold this in, so each micro-batch of an update draws its own.
    applies: this micro-step, if finite, completes its update (the k-th
      micro-batch); once-per-update state changes (the prune mask) wait for it.
    """

    update: jax.Array
    micro: jax.Array
    applies: jax.Array

    @classmethod
    def at(cls, update: int, micro: int | None = None, applies: bool = True) -> Step:
        """A concrete Step (tests, direct calls of a task); micro defaults to update."""
        micro = update if micro is None else micro
        return cls(jnp.int32(update), jnp.int32(micro), jnp.asarray(applies))


def step_of(step: Any, nonfinite_total: Any, accum_steps: int) -> Step:
    """The ``Step`` of the next micro-step of a state with counters ``step``
    and ``nonfinite_total`` (traced or host ints), ``accum_steps`` micro-batches
    per update.

    A non-finite micro-step advances only ``step`` and ``nonfinite_total``:
    the optimizer state (MultiSteps' accumulator and counters included) stays
    as it was, as if the micro-batch never came (optax.skip_not_finite does
    the same). So the finite micro-steps are ``step - nonfinite_total``, every
    ``accum_steps`` of them make an update, and this update count equals
    MultiSteps' ``gradient_step``; a resumed state recovers it from its own
    counters.
    """
    finite = step - nonfinite_total
    return Step(
        update=finite // accum_steps,
        micro=step,
        applies=finite % accum_steps == accum_steps - 1,
    )


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where(pred, a, b)``; keeps the old state on a skipped step."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
