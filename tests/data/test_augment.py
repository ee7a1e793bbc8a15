"""Latent augmentation views: indexing, determinism, temporal scale, spans, noise."""

import numpy as np
import pytest

from signx_jax.data.augment import AugmentedSource

NUM_VIEWS = 10


def _record(rng, num_t, dim=8, num_glosses=3):
    cuts = np.sort(rng.choice(np.arange(1, num_t), 2 * num_glosses, replace=False))
    return {
        "latent": rng.normal(size=(num_t, dim)).astype(np.float32),
        "gloss_spans": cuts.reshape(-1, 2).astype(np.int32),
        "labels": rng.integers(5, 50, num_glosses).astype(np.int32),
        "name": f"clip{num_t}",
    }


@pytest.fixture
def source():
    rng = np.random.default_rng(0)
    return [_record(rng, t) for t in (20, 37, 64)]


def test_length_and_view_zero_is_the_original(source):
    aug = AugmentedSource(source, num_views=NUM_VIEWS, seed=0)
    assert len(aug) == len(source) * (NUM_VIEWS + 1)
    for clip, rec in enumerate(source):
        got = aug[clip * (NUM_VIEWS + 1)]
        assert set(got) == set(rec)
        for key in rec:
            np.testing.assert_array_equal(got[key], rec[key])
        # Views of clip c occupy indices c*(N+1) .. c*(N+1)+N and keep its labels.
        for view in range(1, NUM_VIEWS + 1):
            other = aug[clip * (NUM_VIEWS + 1) + view]
            np.testing.assert_array_equal(other["labels"], rec["labels"])
            assert other["name"] == rec["name"]


def test_frame_counts_without_reading_the_views(source, monkeypatch):
    """Every view's frame count, as the input pipeline sizes buckets with it, equals the
    view's latent length, and comes from the source's counts alone."""
    aug = AugmentedSource(source, num_views=NUM_VIEWS, seed=3, scale_range=(0.5, 1.5))
    lengths = [len(aug[i]["latent"]) for i in range(len(aug))]
    monkeypatch.setattr(AugmentedSource, "__getitem__", lambda self, i: pytest.fail("read"))
    assert aug.frame_counts.tolist() == lengths
    assert len(set(lengths)) > len(source)  # the views really change the length


def test_views_are_deterministic_and_distinct(source):
    a = AugmentedSource(source, num_views=NUM_VIEWS, seed=7)
    b = AugmentedSource(source, num_views=NUM_VIEWS, seed=7)
    c = AugmentedSource(source, num_views=NUM_VIEWS, seed=8)
    for i in range(len(a)):
        x, y = a[i], b[i]
        np.testing.assert_array_equal(x["latent"], y["latent"])
        np.testing.assert_array_equal(x["gloss_spans"], y["gloss_spans"])
        np.testing.assert_array_equal(
            a[i]["latent"], x["latent"]
        )  # asking twice gives the same view
    # Different views of one clip differ, and a different seed changes a view.
    for clip in range(len(source)):
        base = clip * (NUM_VIEWS + 1)
        views = [a[base + v]["latent"] for v in range(1, NUM_VIEWS + 1)]
        for i in range(len(views)):
            for j in range(i + 1, len(views)):
                assert views[i].shape != views[j].shape or not np.allclose(views[i], views[j])
        z, w = a[base + 1]["latent"], c[base + 1]["latent"]
        assert z.shape != w.shape or not np.allclose(z, w)
    # Views do not mutate the underlying records.
    np.testing.assert_array_equal(
        source[0]["latent"], _record(np.random.default_rng(0), 20)["latent"]
    )


def test_temporal_scale_and_spans(source):
    aug = AugmentedSource(source, num_views=NUM_VIEWS, seed=3, scale_range=(0.8, 1.2))
    lengths = []
    for clip, rec in enumerate(source):
        num_t, dim = rec["latent"].shape
        for view in range(1, NUM_VIEWS + 1):
            out = aug[clip * (NUM_VIEWS + 1) + view]
            new_t = out["latent"].shape[0]
            assert out["latent"].shape[1] == dim and out["latent"].dtype == np.float32
            assert 0.8 * num_t - 1 <= new_t <= 1.2 * num_t + 1, (clip, view, num_t, new_t)
            lengths.append(new_t / num_t)
            spans = np.asarray(out["gloss_spans"])
            assert spans.shape == rec["gloss_spans"].shape
            assert spans.min() >= 0 and spans.max() <= new_t
            assert np.all(spans[:, 0] <= spans[:, 1])
            assert np.all(np.diff(spans[:, 0]) >= 0) and np.all(spans[:-1, 1] <= spans[1:, 1])
            # Rescaled spans stay where the sign was, to within rounding.
            ratio = new_t / num_t
            np.testing.assert_allclose(spans, rec["gloss_spans"] * ratio, atol=1.5)
    # The scales actually vary over the range (not all views the same length).
    assert max(lengths) - min(lengths) > 0.15


def test_jitter_moves_frames_by_at_most_one():
    # latent[t] = t, no noise: the output reveals which source frame each comes from.
    num_t = 400
    rec = {"latent": np.repeat(np.arange(num_t, dtype=np.float32)[:, None], 2, axis=1)}
    aug = AugmentedSource(
        [rec], num_views=4, seed=0, scale_range=(1.0, 1.0), jitter_p=0.3, noise_var=0.0
    )
    for view in range(1, 5):
        out = aug[view]["latent"]
        assert out.shape == (num_t, 2)
        src = out[:, 0]
        np.testing.assert_array_equal(src, out[:, 1])
        offset = src - np.arange(num_t)
        assert set(np.unique(offset)) <= {-1.0, 0.0, 1.0}
        # Jitter probability 0.3 (loose bounds: ~N=400 Bernoulli draws).
        assert 0.2 < np.mean(offset != 0) < 0.4


@pytest.mark.parametrize("noise_var", [0.01, 0.25])
def test_noise_variance(noise_var):
    # A constant latent: resampling and jitter are invisible, only noise remains.
    rec = {"latent": np.full((500, 64), 3.0, np.float32)}
    aug = AugmentedSource([rec], num_views=2, seed=1, noise_var=noise_var)
    for view in (1, 2):
        noise = aug[view]["latent"] - 3.0
        assert abs(noise.mean()) < 0.1 * np.sqrt(noise_var)
        np.testing.assert_allclose(noise.var(), noise_var, rtol=0.05)
