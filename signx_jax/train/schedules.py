"""Learning-rate schedules (paper Table 6 and eq. 9; README "Design").

- ``warmup_cosine``: stages 1-2 (Table 6), linear warmup then cosine decay to
  ``end_factor`` x peak (0.05 for Pose2Gloss, 0.01 for Video2Pose).
- ``noam``: stage 3, the Transformer schedule in the form sltunet uses
  (lrate = 1.0, clamped to [min_lrate, max_lrate]).

A schedule maps the optimizer's update count (0-based; with gradient
accumulation, one count per applied update) to a learning rate.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def noam(
    d_model: int = 256,
    warmup: int = 4000,
    scale: float = 1.0,
    min_lr: float = 0.0,
    max_lr: float = float("inf"),
) -> optax.Schedule:
    """lr(s) = clip(scale * d_model^-0.5 * min((s+1) * warmup^-1.5, (s+1)^-0.5),
    min_lr, max_lr).

    s is optax's 0-based count, so s + 1 is eq. 9's 1-based step t; the peak
    scale * (d_model * warmup)^-0.5 is reached at s = warmup - 1.
    """
    if d_model <= 0 or warmup <= 0:
        raise ValueError(f"noam: d_model and warmup must be positive, got {d_model}, {warmup}")

    def schedule(count):
        t = jnp.asarray(count, jnp.float32) + 1.0
        lr = scale * d_model**-0.5 * jnp.minimum(t * warmup**-1.5, t**-0.5)
        return jnp.clip(lr, min_lr, max_lr)

    return schedule


def warmup_cosine(
    peak_lr: float, total_steps: int, warmup_fraction: float, end_factor: float = 0.05
) -> optax.Schedule:
    """Linear warmup 0 -> peak_lr over round(warmup_fraction * total_steps)
    updates, then cosine decay to end_factor * peak_lr at ``total_steps``
    (constant after). Thin wrapper over optax.warmup_cosine_decay_schedule
    that takes the Table 6 parameters (fractions, not step counts)."""
    if total_steps <= 0:
        raise ValueError(f"warmup_cosine: total_steps must be positive, got {total_steps}")
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_cosine: warmup_fraction must be in [0, 1), got {warmup_fraction}")
    warmup_steps = int(round(warmup_fraction * total_steps))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak_lr,
        warmup_steps=warmup_steps,
        decay_steps=total_steps,
        end_value=end_factor * peak_lr,
    )
