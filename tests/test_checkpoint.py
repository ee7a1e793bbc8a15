"""Checkpointer (retention, sharded restore, Grain iterator resume) and averaging."""

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from signx_jax import checkpoint as ckpt_lib


# -- average_params -----------------------------------------------------------
def test_average_params_is_elementwise_mean_and_keeps_ints():
    rng = np.random.default_rng(0)
    trees = []
    for i in range(5):
        trees.append(
            {
                "dense": {"w": rng.normal(size=(3, 4)).astype(np.float32), "b": np.float32(i)},
                "half": jnp.asarray(rng.normal(size=(6,)), jnp.bfloat16),
                "count": np.int32(100 + i),
                "mask": np.array([True, False, i % 2 == 0]),
            }
        )
    got = ckpt_lib.average_params(trees)
    want_w = np.zeros((3, 4), np.float64)
    for t in trees:
        want_w += t["dense"]["w"]
    want_w /= 5
    np.testing.assert_allclose(np.asarray(got["dense"]["w"]), want_w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(float(got["dense"]["b"]), 2.0)  # (0+1+2+3+4)/5
    half = np.mean([np.asarray(t["half"], np.float64) for t in trees], axis=0)
    assert got["half"].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got["half"], np.float64), half, rtol=1e-2, atol=1e-2)
    assert np.asarray(got["dense"]["w"]).dtype == np.float32
    # Integer and bool leaves come from the first tree, not averaged.
    assert int(got["count"]) == 100
    np.testing.assert_array_equal(np.asarray(got["mask"]), [True, False, True])


def test_average_params_single_tree_and_empty():
    tree = {"w": np.arange(4, dtype=np.float32)}
    np.testing.assert_array_equal(np.asarray(ckpt_lib.average_params([tree])["w"]), tree["w"])
    with pytest.raises(ValueError):
        ckpt_lib.average_params([])


# -- retention ----------------------------------------------------------------
def _tiny_state(step):
    return {"w": jnp.full((4,), float(step), jnp.float32), "step": jnp.int32(step)}


def test_retention_keeps_best_five_by_wer_plus_latest(tmp_path):
    # (step, dev_wer or None for a resume-only save without metrics)
    plan = [
        (1, 0.50),
        (2, 0.40),
        (3, None),
        (4, 0.45),
        (5, 0.30),
        (6, 0.60),
        (7, None),
        (8, 0.20),
        (9, 0.35),
        (10, 0.55),
        (11, 0.25),
        (12, None),
        (13, 0.70),
        (14, None),
    ]
    ck = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
    seen = {}
    for step, wer in plan:
        metrics = None if wer is None else {"dev_wer": wer}
        ck.save(step, _tiny_state(step), metrics=metrics)
        ck.wait()
        if wer is not None:
            seen[step] = wer
        if len(seen) >= 5:
            best5 = sorted(seen, key=seen.get)[:5]
            assert sorted(ck.all_steps()) == sorted(set(best5) | {step}), (step, ck.all_steps())
            assert ck.latest_step() == step
    # Final: best five are 8 (0.20), 11 (0.25), 5 (0.30), 9 (0.35), 2 (0.40); latest 14.
    assert sorted(ck.all_steps()) == [2, 5, 8, 9, 11, 14]
    assert ck.best_steps(5) == [8, 11, 5, 9, 2]
    assert ck.best_steps(2) == [8, 11]
    # The kept checkpoints hold their own step's state.
    for step in ck.all_steps():
        restored = ck.restore(step, ckpt_lib.abstract_like(_tiny_state(0)))
        assert int(restored["step"]) == step
        np.testing.assert_array_equal(np.asarray(restored["w"]), np.full(4, float(step)))
    ck.close()
    # A fresh (read-only) manager over the same directory sees the same ranking.
    again = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), read_only=True)
    assert again.latest_step() == 14
    assert again.best_steps(5) == [8, 11, 5, 9, 2]
    again.close()
    # A resumed run keeps the old best five: metrics must survive the restart.
    resumed = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
    resumed.save(15, _tiny_state(15), metrics={"dev_wer": 0.27})
    resumed.save(16, _tiny_state(16))
    resumed.wait()
    assert sorted(resumed.all_steps()) == [5, 8, 9, 11, 15, 16]
    assert resumed.best_steps(5) == [8, 11, 15, 5, 9]
    resumed.close()


def test_ties_in_dev_wer_go_to_the_later_step(tmp_path):
    # Kept and ranked by one rule: the same WER -> the later step, in orbax's
    # retention and in best_steps, also after a resume (metrics from disk).
    wers = {100: 5.0, 200: 3.0, 300: 4.0, 400: 3.0, 500: 4.0, 600: 4.0, 700: 6.0, 800: 7.0}
    ck = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), keep_best=3, async_save=False)
    for step, wer in wers.items():
        ck.save(step, _tiny_state(step), metrics={"dev_wer": wer})
    ck.wait()
    assert sorted(ck.all_steps()) == [200, 400, 600, 800]  # best 3 + latest
    assert ck.best_steps(3) == [400, 200, 600]
    assert ck.best_steps(1) == [400]
    ck.close()
    again = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), keep_best=3, async_save=False)
    again.save(900, _tiny_state(900), metrics={"dev_wer": 3.0})
    again.wait()
    assert sorted(again.all_steps()) == [200, 400, 900]
    assert again.best_steps(3) == [900, 400, 200]
    again.close()


# -- sharded restore ----------------------------------------------------------
def _mesh(shape, names):
    return Mesh(np.array(jax.devices()[: int(np.prod(shape))]).reshape(shape), names)


def _state_on(mesh, specs, host):
    return {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in host.items()}


def _host_state():
    rng = np.random.default_rng(1)
    return {
        "w": rng.normal(size=(16, 8)).astype(np.float32),
        "emb": np.asarray(jnp.asarray(rng.normal(size=(8, 4)), jnp.bfloat16)),
        "mask": (rng.random(8) > 0.5).astype(np.float32),
        "step": np.int32(123),
    }


def _assert_same(restored, host, mesh, specs):
    assert set(restored) == set(host)
    for k, v in host.items():
        got = restored[k]
        assert got.dtype == np.asarray(v).dtype, k
        np.testing.assert_array_equal(np.asarray(got), np.asarray(v), err_msg=k)
        assert got.sharding.is_equivalent_to(NamedSharding(mesh, specs[k]), got.ndim), k


@pytest.mark.parametrize("num_devices", [1, 8])
def test_restore_round_trips_exactly(tmp_path, num_devices):
    assert jax.device_count() >= 8, "tests/conftest.py should simulate 8 CPU devices"
    mesh = _mesh((num_devices,), ("data",))
    specs = {"w": P("data"), "emb": P(), "mask": P("data"), "step": P()}
    host = _host_state()
    state = _state_on(mesh, specs, host)
    ck = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
    ck.save(5, state, config={"model": {"width": 256}, "seed": 3}, metrics={"dev_wer": 0.5})
    ck.wait()
    restored = ck.restore(5, ckpt_lib.abstract_like(state))
    _assert_same(restored, host, mesh, specs)
    assert ck.restore_config(5) == {"model": {"width": 256}, "seed": 3}
    ck.close()


def test_restore_onto_a_different_mesh(tmp_path):
    host = _host_state()
    mesh8 = _mesh((8,), ("data",))
    specs8 = {"w": P("data"), "emb": P(), "mask": P("data"), "step": P()}
    ck = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=True)
    ck.save(1, _state_on(mesh8, specs8, host))
    ck.wait()  # async save: durable only after wait()
    mesh24 = _mesh((2, 4), ("data", "model"))
    specs24 = {"w": P("data", "model"), "emb": P("model"), "mask": P("model"), "step": P()}
    abstract = {
        k: jax.ShapeDtypeStruct(
            np.shape(v), np.asarray(v).dtype, sharding=NamedSharding(mesh24, specs24[k])
        )
        for k, v in host.items()
    }
    restored = ck.restore(1, abstract)
    _assert_same(restored, host, mesh24, specs24)
    # Each device holds exactly its [8, 2] block of w.
    for shard in restored["w"].addressable_shards:
        np.testing.assert_array_equal(np.asarray(shard.data), host["w"][shard.index])
        assert shard.data.shape == (8, 2)
    ck.close()


# -- data iterator --------------------------------------------------------------
def test_grain_iterator_resumes_at_the_same_element(tmp_path):
    dataset = grain.MapDataset.range(100).seed(1).shuffle().batch(4).to_iter_dataset()
    it = iter(dataset)
    for _ in range(7):
        next(it)
    ck = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
    state = _tiny_state(7)
    ck.save(7, state, data_iter=it)
    ck.wait()
    expected = [np.asarray(next(it)) for _ in range(5)]

    fresh = iter(dataset)
    first = np.asarray(next(iter(dataset)))
    assert not np.array_equal(first, expected[0])  # a fresh iterator starts elsewhere
    restored = ck.restore(7, ckpt_lib.abstract_like(state), data_iter=fresh)
    assert int(restored["step"]) == 7
    got = [np.asarray(next(fresh)) for _ in range(5)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    # Sanity: the stream is a permutation, so resumed batches are the 8th..12th.
    full = np.concatenate([np.asarray(b) for b in iter(dataset)])
    np.testing.assert_array_equal(np.concatenate(got), full[28:48])
    assert sorted(full.tolist()) == list(range(100))
    ck.close()
