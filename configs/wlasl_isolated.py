"""Isolated recognition (stage 3) on wlasl: pooled latent -> one class per clip.

``signx_jax.train.isolated.IsolatedTask`` (selected by ``data.task = "isolated"``):
the stage-3 latent cache of a clip, LayerNorm + masked mean over time + MLP
(``model.isolated_hidden``), label-smoothed cross-entropy (``loss.label_smoothing``).
Dev reports top-1 / top-5 per-instance and per-class accuracy; the best-k
checkpoints are those with the lowest ``dev_top1_error`` (100 - top-1 %).

WLASL's recipe (configs/wlasl.py) trains it as its stage 3::

  python -m signx_jax.main --config configs/wlasl.py:base --workdir runs/wlasl \
      --config.data.root=/data/wlasl

arg: tiny | small | base | ladderN (the CSLR sizes: ``model.latent_dim`` must be stage 1's).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    c = train_config("cslr", arg or "base", dataset="wlasl")
    c.data.task = "isolated"
    c.data.max_label_len = 1  # one gloss per clip: the class
    c.train.best_metric = "dev_top1_error"  # lower is better, as the checkpointer keeps
    # The classifier has none of the CSLR's CTC / decoder / distillation /
    # pruning / decoding: drop their keys so none looks like it matters.
    for key in [k for k in c.loss if k != "label_smoothing"]:
        del c.loss[key]
    del c.pruning, c.decode
    return c
