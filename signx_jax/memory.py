"""Back-of-the-envelope memory per device for a train step on a (data, fsdp, tensor) mesh.

Before compiling anything, this answers "does config X fit on a v5e-16?" (README "Design"):

    from signx_jax import memory
    act = memory.transformer_activation_bytes(
        batch_per_device=4, seq_len=256, d_model=256, num_heads=4, num_layers=12, tensor=1
    )
    est = memory.per_device_memory(
        num_params=60_000_000, mesh={"data": 4, "fsdp": 4, "tensor": 1},
        optimizer="adam", activation_bytes=act, grad_accumulation=True,
    )
    print(est.summary(device="v5e"))

Model of the state (ZeRO-3 / FSDP, as the mesh rules shard it): parameters, gradients
and optimizer moments are split over fsdp * tensor devices and replicated over data;
`replicated_fraction` of the parameters (norm scales, biases) stays whole on every
device. Activations depend on the model, so they come in as bytes per device, e.g. from
`transformer_activation_bytes` (Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", eq. 2 and section 5) or from a compiled
step's memory analysis. XLA's temporaries and fragmentation are not modelled: keep
~10-20 % headroom (`fits`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

GIB = 1024**3
# Bytes of optimizer state per parameter (moments kept in float32).
OPTIMIZER_STATE_BYTES = {"adam": 8, "adamw": 8, "momentum": 4, "sgd": 0}
# High-bandwidth memory per TPU chip, from Cloud TPU's system architecture pages.
HBM_BYTES = {"v4": 32 * GIB, "v5e": 16 * GIB, "v5p": 95 * GIB, "v6e": 32 * GIB}
MESH_AXES = ("data", "fsdp", "tensor")


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device of each part of a train step's live memory."""

    params: float
    master_params: float
    grads: float
    grad_accumulator: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return sum(dataclasses.astuple(self))

    def summary(self, device: str | None = None) -> str:
        """One line per part in GiB; with a device name, also the share of its HBM."""
        lines = [f"{f.name:>16}: {getattr(self, f.name) / GIB:8.3f} GiB" for f in _fields()]
        lines.append(f"{'total':>16}: {self.total / GIB:8.3f} GiB")
        if device is not None:
            hbm = _hbm(device)
            lines.append(f"{'of ' + device:>16}: {100 * self.total / hbm:7.1f} % of HBM")
        return "\n".join(lines)


def _fields():
    return dataclasses.fields(MemoryEstimate)


def _hbm(device: str) -> int:
    if device not in HBM_BYTES:
        raise ValueError(f"unknown device {device!r}; known: {sorted(HBM_BYTES)}")
    return HBM_BYTES[device]


def _mesh_sizes(mesh: Mapping[str, int]) -> tuple[int, int, int]:
    unknown = set(mesh) - set(MESH_AXES)
    if unknown:
        raise ValueError(f"mesh axes {sorted(unknown)} are not among {MESH_AXES}")
    sizes = tuple(int(mesh.get(axis, 1)) for axis in MESH_AXES)
    if min(sizes) < 1:
        raise ValueError(f"mesh axis sizes must be >= 1, got {dict(mesh)}")
    return sizes


def per_device_memory(
    num_params: int,
    mesh: Mapping[str, int],
    *,
    optimizer: str = "adam",
    param_bytes: int = 4,
    master_weights: bool = False,
    grad_accumulation: bool = False,
    activation_bytes: float = 0.0,
    replicated_fraction: float = 0.0,
) -> MemoryEstimate:
    """Estimate the memory of one device for a model with `num_params` parameters.

    param_bytes: 4 for float32 parameters (and gradients), 2 for bfloat16.
    master_weights: a float32 copy of bfloat16 parameters is kept for the update.
    grad_accumulation: a float32 gradient accumulator lives across micro-steps.
    activation_bytes: activations saved for the backward pass, already per device.
    """
    if optimizer not in OPTIMIZER_STATE_BYTES:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {sorted(OPTIMIZER_STATE_BYTES)}")
    if not 0.0 <= replicated_fraction <= 1.0:
        raise ValueError(f"replicated_fraction must be in [0, 1], got {replicated_fraction}")
    _, fsdp, tensor = _mesh_sizes(mesh)
    # Parameters each device holds: its shard of the sharded ones, all replicated ones.
    local = num_params * ((1 - replicated_fraction) / (fsdp * tensor) + replicated_fraction)
    return MemoryEstimate(
        params=local * param_bytes,
        master_params=local * 4 if master_weights and param_bytes < 4 else 0.0,
        grads=local * param_bytes,
        grad_accumulator=local * 4 if grad_accumulation else 0.0,
        optimizer=local * OPTIMIZER_STATE_BYTES[optimizer],
        activations=float(activation_bytes),
    )


def transformer_activation_bytes(
    *,
    batch_per_device: int,
    seq_len: int,
    d_model: int,
    num_heads: int,
    num_layers: int,
    tensor: int = 1,
    remat: str = "none",
    dtype_bytes: int = 2,
) -> float:
    """Activations a pre-LN transformer stack saves for backward, per device.

    Korthikanti et al. 2022 count, per layer, s*b*h*(10 + 24/t + 5*a*s/(h*t)) bytes for
    16-bit activations with an MLP of width 4h, dropout masks included, under tensor
    parallelism t (section 4.2.2); with full rematerialisation only the layer input,
    2*s*b*h bytes, is kept. `dtype_bytes` rescales from 16-bit.
    batch_per_device: examples per device per micro-step (global batch / (data * fsdp)
    / accumulation steps).
    """
    s, b, h, a, t = seq_len, batch_per_device, d_model, num_heads, tensor
    if min(s, b, h, a, t, num_layers) < 1:
        raise ValueError("all sizes must be >= 1")
    if remat == "none":
        per_layer = s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    elif remat == "full":
        per_layer = 2 * s * b * h
    else:
        raise ValueError(f"remat must be 'none' or 'full', got {remat!r}")
    return per_layer * num_layers * dtype_bytes / 2


def fits(estimate: MemoryEstimate, device: str, headroom: float = 0.85) -> bool:
    """True if the estimate uses at most `headroom` of the device's HBM."""
    return estimate.total <= headroom * _hbm(device)
