"""The synthetic corpus is a learning problem: glosses are recognisable on unseen signers."""

from __future__ import annotations

import collections

import numpy as np

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import generate_split

_STEPS = 8  # every gloss segment is resampled to this many frames


def _segments(clips: list[dict]) -> tuple[np.ndarray, list[str]]:
    """Per-gloss features: body + hand (x, y) of DWPose over the gloss span, resampled."""
    feats, labels = [], []
    for clip in clips:
        dw = clip["poses"]["dwpose"].reshape(-1, 128, 3)[:, :60, :2]  # body + both hands
        neck = dw[:, 1:2]
        dw = dw - neck  # framing varies per clip: use neck-relative positions
        for (start, end), gloss in zip(clip["gloss_spans"], clip["gloss"].split(), strict=True):
            t = np.linspace(start, end - 1, _STEPS).round().astype(int)
            feats.append(dw[t].reshape(-1))
            labels.append(gloss)
    return np.stack(feats), labels


def test_nearest_centroid_on_unseen_signers_beats_chance_and_majority():
    cfg = get_config("tiny")
    cfg.rgb = False
    cfg.num_train, cfg.num_test = 60, 20
    train_x, train_y = _segments(list(generate_split(cfg, "train")))
    test_x, test_y = _segments(list(generate_split(cfg, "test")))
    classes = sorted(set(train_y))
    centroids = np.stack([train_x[np.array(train_y) == c].mean(0) for c in classes])
    dists = ((test_x[:, None] - centroids[None]) ** 2).sum(-1)
    pred = [classes[i] for i in dists.argmin(1)]
    accuracy = np.mean([p == y for p, y in zip(pred, test_y, strict=True)])
    majority = collections.Counter(train_y).most_common(1)[0][0]
    majority_acc = np.mean([y == majority for y in test_y])
    chance = 1.0 / len(classes)
    assert majority_acc < 0.2, majority_acc
    assert accuracy > max(0.3, 8 * chance, 3 * majority_acc), (accuracy, chance, majority_acc)
