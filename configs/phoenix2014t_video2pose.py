"""video2pose (stage 2) on phoenix2014t.

Run::

  python -m signx_jax.train.main --config configs/phoenix2014t_video2pose.py:base \
      --config.data.data_dir=DATA --workdir=runs/phoenix2014t_video2pose

arg is the model size: tiny | small | base | ladder0..5 (default: base).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("video2pose", arg or "base", dataset="phoenix2014t")
