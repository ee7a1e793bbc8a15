"""The functional train state shared by every stage.

A Flax NNX model is split once into a static ``graphdef`` and two state
pytrees: the trainable parameters and everything else (BatchNorm statistics,
RNG stream counters, frozen sub-models). The train step is then a pure
function of ``TrainState``, which is what ``jax.jit`` shards and donates and
what orbax saves. ``aux`` holds stage-specific state that is not part of the
model, such as the CSLR pruning mask and its running activation variance.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimizer steps taken (skipped ones included)
    params: Any  # nnx.State of the trainable parameters
    rest: Any  # nnx.State of all other model variables
    opt_state: Any
    aux: Any  # stage-specific pytree (e.g. {"prune_mask": [D], "act_var": [D]})
    nonfinite_total: jax.Array  # int32: updates skipped for NaN/Inf so far
    nonfinite_streak: jax.Array  # int32: consecutive skipped updates

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


def tree_all_finite(tree: Any) -> jax.Array:
    """True when every floating leaf of ``tree`` is finite (a traced bool)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where(pred, a, b)``; keeps the old state on a skipped step."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
