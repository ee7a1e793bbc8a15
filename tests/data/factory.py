"""Small random Clip / latent records for the data tests (schema.py layout)."""

from __future__ import annotations

import numpy as np

from signx_jax import schema

WORDS = ("IX", "NOT-YET", "ARRIVE", "HOUSE", "GO", "WANT", "BOOK", "FINISH")


def make_clip(
    rng: np.random.Generator,
    i: int,
    *,
    rgb: bool = True,
    spans: bool = True,
    frames: int | None = None,
) -> dict:
    """A schema-valid clip with T in [5, 30], 16x16 RGB and gloss timings."""
    t = int(rng.integers(5, 31)) if frames is None else frames
    n_gloss = int(rng.integers(1, 5))
    gloss = " ".join(rng.choice(WORDS, n_gloss))
    clip = {
        "clip_id": f"clip-{i:04d}",
        "dataset": "synthetic",
        "signer": f"signer{i % 3}",
        "fps": 25.0,
        "poses": {
            name: rng.normal(size=(t, dim)).astype(np.float32) for name, dim in schema.STREAMS
        },
        "presence": rng.random((t, len(schema.STREAMS))) > 0.2,
        "gloss": gloss,
        "translation": f"sentence number {i} über",
    }
    if rgb:
        clip["rgb"] = rng.integers(0, 256, (t, 16, 16, 3), dtype=np.uint8)
    if spans:
        cuts = (
            np.sort(rng.choice(np.arange(1, t), n_gloss - 1, replace=False)) if n_gloss > 1 else []
        )
        bounds = np.concatenate([[0], cuts, [t]]).astype(np.int32)
        clip["gloss_spans"] = np.stack([bounds[:-1], bounds[1:]], axis=1)
    return clip


def make_latent(rng: np.random.Generator, i: int, *, dim: int = 8) -> dict:
    t = int(rng.integers(5, 31))
    return {
        "clip_id": f"lat-{i:04d}",
        "dataset": "synthetic",
        "signer": "s0",
        "latent": rng.normal(size=(t, dim)).astype(np.float32),
        "gloss": " ".join(rng.choice(WORDS, 3)),
        "translation": "",
    }


def make_clips(n: int, seed: int = 0, **kwargs) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [make_clip(rng, i, **kwargs) for i in range(n)]
