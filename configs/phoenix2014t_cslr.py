"""cslr (stage 3) on phoenix2014t.

Stage 3 reads the latent cache (``main --mode cache``, see signx_jax/train/main.py),
not the pose shards. Run::

  python -m signx_jax.train.main --config configs/phoenix2014t_cslr.py:base \
      --config.data.latent_dir=data/phoenix2014t_latents/video --workdir=runs/phx/stage3

arg is the model size: tiny | small | base | ladder0..5 (default: base).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("cslr", arg or "base", dataset="phoenix2014t")
