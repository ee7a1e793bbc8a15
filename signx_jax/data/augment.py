"""Deterministic latent augmentation views (paper section 4.1; README "Design").

Stage 3 trains on ``1 + num_views`` views of every cached clip: view 0 is the
original; views 1..N apply a temporal rescale in ``scale_range``, frame jitter
(each frame replaced by a neighbour with probability ``jitter_p``) and
Gaussian noise of variance ``noise_var``. A view is a pure function of
(seed, clip index, view index), so nothing is stored ten times and any
element can be recomputed after a resume. The wrapper is itself a Grain
random-access source: index ``i`` is clip ``i // (N + 1)``, view ``i % (N + 1)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _view_frames(num_t: int, scale: float) -> int:
    return max(1, int(round(num_t * scale)))


def augment_view(
    record: dict[str, Any],
    rng: np.random.Generator,
    *,
    scale_range: tuple[float, float],
    jitter_p: float,
    noise_var: float,
) -> dict[str, Any]:
    """One augmented copy of a latent record (``latent``: [T, D]; spans rescaled)."""
    latent = np.asarray(record["latent"], np.float32)
    num_t = latent.shape[0]
    scale = rng.uniform(*scale_range)  # the first draw: AugmentedSource.frame_counts repeats it
    new_t = _view_frames(num_t, scale)
    # Nearest-frame resampling keeps the latent on the data manifold.
    src = np.minimum((np.arange(new_t) + 0.5) / scale, num_t - 1).astype(np.int64)
    jitter = rng.random(new_t) < jitter_p
    src = np.clip(src + jitter * rng.choice((-1, 1), size=new_t), 0, num_t - 1)
    out = dict(record)
    out["latent"] = latent[src] + rng.normal(
        0.0, np.sqrt(noise_var), (new_t, latent.shape[1])
    ).astype(np.float32)
    spans = record.get("gloss_spans")
    if spans is not None and len(spans):
        spans = np.asarray(spans, np.float64) * scale
        spans = np.clip(np.round(spans), 0, new_t).astype(np.int32)
        spans[:, 1] = np.maximum(spans[:, 1], np.minimum(spans[:, 0] + 1, new_t))
        out["gloss_spans"] = spans
    return out


class AugmentedSource:
    """``len(source) * (num_views + 1)`` deterministic views of a latent source."""

    def __init__(
        self,
        source,
        *,
        num_views: int,
        seed: int,
        scale_range: tuple[float, float] = (0.8, 1.2),
        jitter_p: float = 0.3,
        noise_var: float = 0.01,
    ):
        self.source, self.num_views, self.seed = source, int(num_views), int(seed)
        self.kwargs = dict(scale_range=tuple(scale_range), jitter_p=jitter_p, noise_var=noise_var)

    def __len__(self) -> int:
        return len(self.source) * (self.num_views + 1)

    @property
    def frame_counts(self) -> np.ndarray:
        """Frames of every view, from the source's counts and each view's scale (the
        first draw of its generator): the input pipeline sizes its buckets without
        reading and augmenting every view."""
        from signx_jax.data.pipeline import frame_counts

        counts = []
        for clip, num_t in enumerate(frame_counts(self.source)):
            counts.append(int(num_t))
            for view in range(1, self.num_views + 1):
                scale = self._rng(clip, view).uniform(*self.kwargs["scale_range"])
                counts.append(_view_frames(int(num_t), scale))
        return np.asarray(counts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip, view = divmod(int(index), self.num_views + 1)
        record = self.source[clip]
        if view == 0 or record is None:  # None: a corrupt record skipped by the reader
            return record
        return augment_view(record, self._rng(clip, view), **self.kwargs)

    def _rng(self, clip: int, view: int) -> np.random.Generator:
        """The generator of one view: ``__getitem__`` and ``frame_counts`` must agree."""
        return np.random.default_rng((self.seed, clip, view))

    def __repr__(self) -> str:
        return f"AugmentedSource({self.source!r}, num_views={self.num_views}, seed={self.seed})"
