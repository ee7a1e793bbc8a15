"""pose2gloss (stage 1) on phoenix2014t.

Run::

  python -m signx_jax.train.main --config configs/phoenix2014t_pose2gloss.py:base \
      --config.data.data_dir=DATA --workdir=runs/phoenix2014t_pose2gloss

arg is the model size: tiny | small | base | ladder0..5 (default: base).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("pose2gloss", arg or "base", dataset="phoenix2014t")
