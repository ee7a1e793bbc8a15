"""Optimizer builders from ``config.optim`` (paper Table 6 and eq. 9; README "Design").

``config.optim`` fields (all stages share them; ``configs/common.py``
``optim_config`` gives each stage's values):

==================== ======================================================
name                 "adamw" | "adam" (adam takes no weight decay)
schedule             "cosine" | "noam" | "constant"
lr                   peak lr of "cosine", the lr of "constant"
warmup_fraction      cosine: linear warmup over this fraction of updates
end_factor           cosine: final lr = end_factor * lr
noam_d_model         noam: d_model (the stage-3 transformer width)
noam_warmup          noam: warmup updates
noam_scale           noam: the multiplier (sltunet's lrate)
min_lr, max_lr       noam: clamp range
b1, b2, eps          Adam moments and epsilon
weight_decay         adamw decoupled weight decay
decay_matrices_only  adamw: decay only params with ndim >= 2 (not biases,
                     norm scales), the usual transformer practice
clip_norm            global-norm clip of the (accumulated) gradient; <= 0 off
grad_accum_steps     micro-batches averaged per update (optax.MultiSteps)
==================== ======================================================

``total_steps`` everywhere counts optimizer *updates* (as do ``eval_every``,
``log_every``, ``checkpoint_every``, ``max_steps`` and checkpoint numbers);
one update is ``grad_accum_steps`` finite micro-batches, so a run takes
total_steps * grad_accum_steps micro-steps, plus one for each non-finite
micro-batch it skips (``signx_jax/train/state.py``: ``step_of``). The
schedule is indexed by update, as MultiSteps' inner optimizer counts.
"""

from __future__ import annotations

import jax
import ml_collections
import optax

from signx_jax.train import schedules


def make_schedule(optim_cfg: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """The lr schedule named by ``optim_cfg.schedule`` (see module docstring)."""
    name = optim_cfg.schedule
    if name == "cosine":
        return schedules.warmup_cosine(
            optim_cfg.lr, total_steps, optim_cfg.warmup_fraction, optim_cfg.end_factor
        )
    if name == "noam":
        return schedules.noam(
            optim_cfg.noam_d_model,
            optim_cfg.noam_warmup,
            optim_cfg.noam_scale,
            optim_cfg.min_lr,
            optim_cfg.max_lr,
        )
    if name == "constant":
        return optax.constant_schedule(optim_cfg.lr)
    raise ValueError(f"config.optim.schedule={name!r}: expected 'cosine', 'noam' or 'constant'")


def accum_steps(optim_cfg: ml_collections.ConfigDict) -> int:
    """Micro-batches per update: ``grad_accum_steps``, 1 when unset or <= 1."""
    return max(1, int(optim_cfg.get("grad_accum_steps", 1)))


def _matrices(params):
    """Weight-decay mask: True for kernels/embeddings (ndim >= 2)."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(
    optim_cfg: ml_collections.ConfigDict, total_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(transformation, schedule) for ``optim_cfg``.

    chain(clip_by_global_norm, adam|adamw(schedule)), wrapped in
    optax.MultiSteps when grad_accum_steps > 1: the wrapped optimizer then
    returns zero updates for k - 1 micro-steps and applies the update of the
    mean gradient on the k-th; clipping sees that mean gradient. The schedule
    is indexed by the update count (MultiSteps' inner count); the trainer
    logs ``schedule(update)``, the lr of the update a micro-step feeds.
    """
    schedule = make_schedule(optim_cfg, total_steps)
    if optim_cfg.name == "adamw":
        opt = optax.adamw(
            schedule,
            b1=optim_cfg.b1,
            b2=optim_cfg.b2,
            eps=optim_cfg.eps,
            weight_decay=optim_cfg.weight_decay,
            mask=_matrices if optim_cfg.decay_matrices_only else None,
        )
    elif optim_cfg.name == "adam":
        if optim_cfg.weight_decay:
            raise ValueError(
                f"config.optim: name='adam' ignores weight_decay={optim_cfg.weight_decay}; "
                "use name='adamw' or set weight_decay=0"
            )
        opt = optax.adam(schedule, b1=optim_cfg.b1, b2=optim_cfg.b2, eps=optim_cfg.eps)
    else:
        raise ValueError(f"config.optim.name={optim_cfg.name!r}: expected 'adamw' or 'adam'")
    parts = []
    if optim_cfg.clip_norm and optim_cfg.clip_norm > 0:
        parts.append(optax.clip_by_global_norm(optim_cfg.clip_norm))
    tx = optax.chain(*parts, opt)
    k = accum_steps(optim_cfg)
    if k > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=k).gradient_transformation()
    return tx, schedule
