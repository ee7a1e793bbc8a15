"""cslr (stage 3) on phoenix2014t.

Run::

  python -m signx_jax.train.main --config configs/phoenix2014t_cslr.py:base \
      --config.data.data_dir=DATA --workdir=runs/phoenix2014t_cslr

arg is the model size: tiny | small | base | ladder0..5 (default: base).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("cslr", arg or "base", dataset="phoenix2014t")
