"""The latent cache (README "Design"): z_latent extracted once by the frozen
stages 1-2 and written as shards that CSLR training reads instead of videos.

Two routes produce latents for the same clips:
  * ``pose``:  extracted poses -> frozen Pose2Gloss fusion encoder -> z;
  * ``video``: RGB frames -> frozen Video2Pose -> P_hat -> fusion encoder -> z
    (what the paper deploys: no pose estimator at inference).

Each route writes ``<out_dir>/<route>/{split}-*.tfrecord`` latent records
(``latent`` [T, D] float16, plus the clip's id, glosses, translation and
gloss spans) with the same writer and reader as the pose shards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from signx_jax.data import pipeline, shards
from signx_jax.sharding import to_global

META_KEYS = ("clip_id", "dataset", "signer", "gloss", "translation", "gloss_spans")


def iter_latents(
    encode: Callable[[dict[str, jax.Array]], jax.Array],
    source,
    vocab,
    *,
    mesh: jax.sharding.Mesh,
    features: tuple[str, ...],
    batch_size: int,
    buckets,
    max_label_len: int,
    desc: str = "latents",
) -> Iterator[dict[str, Any]]:
    """Yield one latent record per clip of ``source``, in source order.

    encode(batch) -> z [B, T, D] is jitted by the caller.
    """
    it = pipeline.make_eval_iterator(
        source, vocab, batch_size=batch_size, buckets=buckets, features=features,
        max_label_len=max_label_len, shard_index=0, shard_count=1,
    )  # fmt: skip
    meta_source = source.replace(decode_rgb=False) if hasattr(source, "replace") else source
    bar = tqdm(total=len(source), desc=desc, unit="clip", leave=False)
    for batch in it:
        z = np.asarray(jax.device_get(encode(to_global(batch, mesh))), np.float32)
        for row in np.flatnonzero(batch["valid"]):
            meta = meta_source[int(batch["index"][row])]
            record = {k: meta[k] for k in META_KEYS if meta.get(k) is not None}
            record["latent"] = z[row, : int(batch["lengths"][row])]
            bar.update(1)
            yield record
    bar.close()


def write_latents(
    encode, source, vocab, out_dir: str, split: str, *, mesh, features, batch_size, buckets,
    max_label_len: int, extra_manifest: dict | None = None,
) -> dict:  # fmt: skip
    records = iter_latents(
        encode, source, vocab, mesh=mesh, features=features, batch_size=batch_size,
        buckets=buckets, max_label_len=max_label_len, desc=f"latents {split}",
    )  # fmt: skip
    return shards.write_split(
        records, out_dir, split, pose_dtype="float16", extra_manifest=extra_manifest
    )


class ConcatSource:
    """Random access over several sources back to back (e.g. both routes' train latents)."""

    def __init__(self, sources):
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def frame_counts(self) -> np.ndarray:
        return np.concatenate([pipeline.frame_counts(s) for s in self.sources])

    def __getitem__(self, index: int):
        which = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return self.sources[which][int(index - self.offsets[which])]

    def __repr__(self) -> str:
        return f"ConcatSource({self.sources!r})"
