"""pose2gloss (stage 1) on synthetic.

Run::

  python -m signx_jax.train.main --config configs/synthetic_pose2gloss.py:base \
      --config.data.data_dir=DATA --workdir=runs/synthetic_pose2gloss

arg is the model size: tiny | small | base | ladder0..5 (default: tiny).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("pose2gloss", arg or "tiny", dataset="synthetic")
