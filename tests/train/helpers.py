"""Shared pieces of the training tests: a micro CSLR config, latent records and a
persistent compilation cache (every ``fit()`` builds a new Trainer, i.e. a new
jit; the cache turns its recompiles of an identical program into a disk read)."""

from __future__ import annotations

import contextlib

import jax
import ml_collections
import numpy as np

from configs.common import train_config
from tests.data.factory import make_latent


def micro_cslr_config(
    latent_dim: int = 16, *, batch_size: int = 8, bucket: int = 32, max_label_len: int = 4
) -> ml_collections.ConfigDict:
    """The cheapest CSLR that still has every stateful part the loop handles:
    feature compilation (frame-drop RNG), BatchNorm statistics, the prune mask
    in ``aux``; VAC-style conv + BiLSTM + CTC (a small compile)."""
    cfg = train_config("cslr", "tiny", variant="vac_baseline")
    m = cfg.model
    m.latent_dim = latent_dim
    m.use_feature_compilation = True
    m.use_pruning = True
    m.temporal_width = m.conv_channels = 32
    m.lstm_hidden = 16
    m.dropout_attn = m.dropout_act = m.dropout_res = 0.1
    cfg.pruning.update(enabled=True, every=2, start=2, keep_dims=latent_dim // 2, ema=0.5)
    cfg.data.update(batch_size=batch_size, eval_batch_size=batch_size, buckets=(bucket,))
    cfg.data.max_label_len = max_label_len
    cfg.optim.update(grad_accum_steps=1, schedule="constant", lr=1e-3)
    cfg.train.update(log_every=1, checkpoint_every=1000, eval_every=0)
    cfg.mesh.update(data=1, fsdp=1, tensor=1)
    return cfg


def latent_records(n: int, dim: int, seed: int = 0) -> list[dict]:
    """Random latent records (5-30 frames, three glosses from factory.WORDS)."""
    rng = np.random.default_rng(seed)
    return [make_latent(rng, i, dim=dim) for i in range(n)]


@contextlib.contextmanager
def compile_cache(path: str):
    """Use a persistent XLA compilation cache in ``path`` for the duration."""
    from jax._src import compilation_cache  # reset: the cache is configured once per process

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    old = {name: getattr(jax.config, name) for name in names}
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        for name, value in old.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()
