"""cslr (stage 3) on synthetic.

Stage 3 reads the latent cache (``main --mode cache``, see signx_jax/train/main.py),
not the pose shards. Run::

  python -m signx_jax.train.main --config configs/synthetic_cslr.py:base \
      --config.data.latent_dir=data/synthetic_latents/pose --workdir=runs/synthetic_cslr

arg is the model size: tiny | small | base | ladder0..5 (default: tiny).
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("cslr", arg or "tiny", dataset="synthetic")
