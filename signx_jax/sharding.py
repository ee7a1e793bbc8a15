"""One mesh, one rule table: logical axis names -> mesh axes (README "Design").

Every parameter in ``signx_jax.models`` is created with logical axis names
(``nnx.with_partitioning(init, ("embed", "mlp"), eager_sharding=False)``) and
the main activations call :func:`constrain` with logical names. This module is
the only place that says which mesh axis a logical name lands on, MaxText
style; big_vision style named tactics (``replicate``, ``fsdp``) are offered as
alternatives for quick experiments.

Mesh axes are ``("data", "fsdp", "tensor")``:

* ``data``   pure data parallelism (params replicated across it),
* ``fsdp``   data parallelism whose replicas also shard the params (ZeRO-3),
* ``tensor`` Megatron-style splitting of heads / MLP / vocab.

The batch is split over ``("data", "fsdp")``. Inside ``jax.jit`` under
``jax.set_mesh(mesh)`` GSPMD inserts the collectives, so e.g. BatchNorm batch
statistics are means over the *global* batch, not per shard.

Typical use::

    mesh = make_mesh(data=-1, fsdp=2)
    with jax.set_mesh(mesh):
        model = shard_model(model, mesh)
        batch = jax.device_put(batch, batch_sharding(mesh))
        out = jitted_step(model, batch)

Host <-> global arrays: ``to_global`` turns each process's numpy batch into
global arrays split over the batch axes; ``gather`` brings (eval) outputs back
to every host as numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES: tuple[str, ...] = ("data", "fsdp", "tensor")
BATCH_AXES: tuple[str, ...] = ("data", "fsdp")

# The one table. A logical name maps to a mesh axis, a tuple of mesh axes, or
# None (replicated). Parameter names and activation names are kept apart
# ("embed" vs "act_embed") because the batch already uses "fsdp" for
# activations, while parameters use it for ZeRO-style sharding.
LOGICAL_AXIS_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    # --- parameters ---
    ("embed", "fsdp"),  # model width of a transformer / LSTM input
    ("mlp", "tensor"),  # FFN hidden, LSTM gates, MLP hidden
    ("heads", "tensor"),  # flattened heads * head_dim of q/k/v projections
    ("kv", None),  # per-head feature dim (kept whole)
    ("vocab", "tensor"),  # gloss vocabulary (CTC / decoder heads, embeddings)
    ("conv_in", "fsdp"),  # input channels of a 1-D convolution
    ("conv_out", "tensor"),  # output channels of a 1-D convolution
    ("conv_kernel", None),  # temporal kernel taps
    ("stream", None),  # the 5 pose streams (type embeddings)
    ("pose", None),  # raw per-stream pose features (odd sizes: 165, 258, ...)
    ("patch", None),  # flattened RGB patch pixels
    ("position", None),  # learned position tables
    ("norm", None),  # LayerNorm / BatchNorm scale and bias
    ("classes", "tensor"),  # isolated-recognition classes
    # --- activations ---
    ("batch", BATCH_AXES),
    ("length", None),
    ("act_embed", None),
    ("act_mlp", "tensor"),
    ("act_heads", "tensor"),
    ("act_vocab", "tensor"),
)


def make_mesh(
    data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[Any] | None = None
) -> Mesh:
    """A ("data", "fsdp", "tensor") mesh over ``devices`` (default: all devices).

    ``data=-1`` takes whatever is left after fsdp and tensor. The axes are
    ``AxisType.Auto`` so that GSPMD propagates shardings from the rule table
    and :func:`constrain` hints.
    """
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices)
    if min(fsdp, tensor) < 1 or data == 0 or data < -1:
        raise ValueError(f"sharding.make_mesh: bad axis sizes {data=}, {fsdp=}, {tensor=}")
    if data == -1:
        if n % (fsdp * tensor):
            raise ValueError(
                f"sharding.make_mesh: {n} devices are not divisible by "
                f"fsdp*tensor = {fsdp}*{tensor}"
            )
        data = n // (fsdp * tensor)
    if data * fsdp * tensor != n:
        raise ValueError(
            f"sharding.make_mesh: data*fsdp*tensor = {data}*{fsdp}*{tensor} = "
            f"{data * fsdp * tensor}, but there are {n} devices; the product must equal "
            "the device count"
        )
    grid = np.asarray(devices, dtype=object).reshape(data, fsdp, tensor)
    return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def _rules() -> dict[str, Any]:
    return dict(LOGICAL_AXIS_RULES)


def logical_to_spec(
    logical_axes: Sequence[str | None],
    mesh: Mesh | jax.sharding.AbstractMesh,
    shape: Sequence[int] | None = None,
) -> PartitionSpec:
    """PartitionSpec for ``logical_axes`` under the rule table.

    A mesh axis is used at most once (first dimension wins), axes missing from
    the mesh or of size 1 are dropped, and if ``shape`` is given a dimension
    that is not divisible by its mesh axes is replicated instead of failing.
    """
    rules, used, out = _rules(), set(), []
    sizes = dict(mesh.shape)
    for i, name in enumerate(logical_axes):
        if name is None:
            out.append(None)
            continue
        if name not in rules:
            raise KeyError(f"sharding: logical axis {name!r} is not in LOGICAL_AXIS_RULES")
        target = rules[name]
        axes = () if target is None else (target,) if isinstance(target, str) else tuple(target)
        axes = tuple(a for a in axes if a in sizes and sizes[a] > 1 and a not in used)
        if shape is not None and axes and shape[i] % math.prod(sizes[a] for a in axes):
            axes = ()
        used.update(axes)
        out.append(None if not axes else axes[0] if len(axes) == 1 else axes)
    return PartitionSpec(*out)


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
    """Sharding hint for an activation by logical names; a no-op without a mesh."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or any(t != AxisType.Auto for t in mesh.axis_types):
        return x
    spec = logical_to_spec(logical_axes, mesh, x.shape)
    return jax.lax.with_sharding_constraint(x, spec)


def param_axes(init: Any, logical_axes: tuple[str | None, ...]) -> Any:
    """Initializer carrying logical axis names; sharded later by the rule table."""
    return nnx.with_partitioning(init, logical_axes, eager_sharding=False)


def _is_var(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def _var_axes(v: nnx.Variable) -> tuple[str | None, ...] | None:
    names = v.get_metadata().get("out_sharding")
    return tuple(names) if names else None


# --- tactics -----------------------------------------------------------------
# A tactic maps (variable, mesh) -> PartitionSpec. "logical" is the default and
# follows LOGICAL_AXIS_RULES; the others ignore the names, as in big_vision.


def replicate(v: nnx.Variable, mesh: Mesh) -> PartitionSpec:
    """Every parameter on every device."""
    del v, mesh
    return PartitionSpec()


def fsdp(axis: str | tuple[str, ...] = "fsdp"):
    """Shard each parameter's largest divisible dimension over ``axis``."""
    axes = (axis,) if isinstance(axis, str) else tuple(axis)

    def tactic(v: nnx.Variable, mesh: Mesh) -> PartitionSpec:
        shape = np.shape(v.get_value())
        n = math.prod(dict(mesh.shape)[a] for a in axes)
        for i in np.argsort(shape)[::-1]:
            if shape[i] % n == 0 and shape[i] >= n:
                spec = [None] * len(shape)
                spec[i] = axes[0] if len(axes) == 1 else axes
                return PartitionSpec(*spec)
        return PartitionSpec()

    return tactic


def logical(v: nnx.Variable, mesh: Mesh) -> PartitionSpec:
    """Follow the variable's logical axis names through LOGICAL_AXIS_RULES."""
    names = _var_axes(v)
    if names is None:
        return PartitionSpec()
    return logical_to_spec(names, mesh, np.shape(v.get_value()))


TACTICS = {"logical": logical, "replicate": replicate, "fsdp": fsdp()}


def model_shardings(model_state: Any, mesh: Mesh, tactic: str | Any = "logical") -> Any:
    """NamedSharding for every Variable of ``model_state`` (nnx.State or abstract state).

    The result has the same tree structure as ``model_state`` (Variables whose
    value is a NamedSharding), so it can be used as jit in/out shardings or in
    ``jax.device_put``.
    """
    fn = TACTICS[tactic] if isinstance(tactic, str) else tactic

    def one(v: nnx.Variable) -> nnx.Variable:
        if np.ndim(v.get_value()) == 0 or not hasattr(v.get_value(), "shape"):
            return v.replace(NamedSharding(mesh, PartitionSpec()))
        return v.replace(NamedSharding(mesh, fn(v, mesh)))

    return jax.tree.map(one, model_state, is_leaf=_is_var)


def shard_model(model: nnx.Module, mesh: Mesh, tactic: str | Any = "logical") -> nnx.Module:
    """Place ``model``'s variables on ``mesh`` (in place); returns the model."""
    state = nnx.state(model)
    shardings = model_shardings(state, mesh, tactic)
    nnx.update(model, jax.device_put(state, shardings))
    return model


def batch_sharding(mesh: Mesh, ndim: int | None = None) -> NamedSharding:
    """Inputs: leading (batch) dimension over ("data", "fsdp"), the rest replicated."""
    del ndim  # a PartitionSpec shorter than the array replicates the rest
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def batch_rows(mesh: Mesh) -> int:
    """Shards of the batch dimension: a global batch is a multiple of it."""
    return int(np.prod([mesh.shape[a] for a in BATCH_AXES if a in mesh.shape]))


# -- host <-> global arrays ---------------------------------------------------


def to_global(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Per-process numpy batch -> global arrays sharded over the batch axes."""
    sharding = batch_sharding(mesh)
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        spec = NamedSharding(mesh, PartitionSpec(*sharding.spec[:1], *([None] * (value.ndim - 1))))
        out[key] = jax.make_array_from_process_local_data(spec, value)
    return out


def gather(tree: Any) -> Any:
    """Per-process eval outputs -> host numpy, every process's rows on every process."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)
