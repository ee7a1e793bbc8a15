"""Gradient accumulation in fit() (signx_jax/train/fit.py, loop.py, optimizers.py).

``train.total_steps`` and every other step number count optimizer *updates*;
one update is ``optim.grad_accum_steps`` micro-batches (optax.MultiSteps).
With k = 3 and 4 updates: 12 micro-steps, MultiSteps' gradient_step 4, the
cosine schedule indexed by update (warmup to its peak, then the last update
at the schedule's last value), logs and checkpoints numbered by update, and a
run stopped at update 2 resumes to the uninterrupted run's state.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from signx_jax import checkpoint as ckpt_lib
from signx_jax.data.vocab import Vocabulary
from signx_jax.train import tasks
from signx_jax.train.fit import fit
from tests.train.helpers import compile_cache, latent_records, micro_cslr_config

DIM, K, UPDATES = 16, 3, 4


@pytest.fixture(scope="module")
def data():
    train = latent_records(24, DIM, seed=0)
    vocab = Vocabulary.build([r["gloss"] for r in train])
    return train, vocab


def _config():
    cfg = micro_cslr_config(DIM)
    # warmup = round(0.25 * 4) = 1 update: lr 0 at update 0, the peak at update 1.
    cfg.optim.update(
        schedule="cosine", lr=1e-3, warmup_fraction=0.25, end_factor=0.1, grad_accum_steps=K
    )
    cfg.train.update(total_steps=UPDATES, log_every=1, checkpoint_every=2, keep_best=1)
    return cfg


def _fit(cfg, data, workdir, max_steps=None):
    train, vocab = data
    return fit(cfg, tasks.CSLRTask(cfg, len(vocab)), train_source=train, dev_source=None,
               vocab=vocab, workdir=str(workdir), max_steps=max_steps)  # fmt: skip


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    cfg = _config()
    full_dir, split_dir = tmp_path_factory.mktemp("full"), tmp_path_factory.mktemp("split")
    saved = []  # (run, checkpoint step) of every save: orbax keeps only the latest
    save = ckpt_lib.Checkpointer.save

    def spy(self, step, *args, **kwargs):
        saved.append((run, step))
        return save(self, step, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp, compile_cache(tmp_path_factory.mktemp("xla")):
        mp.setattr(ckpt_lib.Checkpointer, "save", spy)
        run = "full"
        full = _fit(cfg, data, full_dir)
        run = "first"
        first = _fit(cfg, data, split_dir, max_steps=2)
        run = "second"
        second = _fit(cfg, data, split_dir)
    return dict(cfg=cfg, full=full, first=first, second=second, saved=saved)


def _counts(result) -> tuple[int, int]:
    """(optimizer updates, micro-steps) held in the trainer's state."""
    state = jax.device_get(result.trainer.state)
    return int(state.opt_state.gradient_step), int(state.step)


def test_total_steps_counts_updates_of_k_micro_batches(runs):
    full = runs["full"]
    assert full.status == "done" and full.step == UPDATES
    assert _counts(full) == (UPDATES, UPDATES * K)
    assert [h["step"] for h in full.history] == [1, 2, 3, 4]  # update numbers
    # checkpoint_every = 2 updates; checkpoints are numbered by update.
    assert runs["saved"] == [("full", 2), ("full", 4), ("first", 2), ("second", 4)]


def test_logged_lr_is_the_schedule_at_the_update(runs):
    cfg, full = runs["cfg"], runs["full"]
    schedule = full.trainer.schedule
    logged = [h["lr"] for h in full.history]
    want = [float(schedule(u)) for u in range(UPDATES)]  # update u applies schedule(u)
    np.testing.assert_allclose(logged, want, rtol=1e-6)
    assert logged[0] == 0.0 and logged[1] == pytest.approx(cfg.optim.lr)  # the peak
    # The schedule ran to its end: the optimizer's schedule count is the update
    # count, so the next lr would be the end value, and the last update used
    # the cosine's last step before it.
    state = jax.device_get(full.trainer.state)
    [(_, count)] = optax.tree_utils.tree_get_all_with_path(state.opt_state, "ScaleByScheduleState")
    assert int(count.count) == UPDATES
    end = cfg.optim.end_factor * cfg.optim.lr
    assert float(schedule(UPDATES)) == pytest.approx(end)
    assert end < logged[-1] < logged[1]


def test_stop_and_resume_lands_on_the_update_count(runs):
    full, first, second = runs["full"], runs["first"], runs["second"]
    assert (first.status, first.step) == ("done", 2)
    assert _counts(first) == (2, 2 * K)
    assert second.step == UPDATES and _counts(second) == (UPDATES, UPDATES * K)
    assert [h["step"] for h in second.history] == [3, 4]  # resumed at update 2
    want, got = (
        jax.device_get(full.trainer.state.params),
        jax.device_get(second.trainer.state.params),
    )
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(a, b)


@jax.custom_vjp
def _nan_gradient(x, bad):
    """x itself; its gradient is NaN where ``bad`` (a finite loss, NaN gradients)."""
    return x


def _nan_gradient_fwd(x, bad):
    return x, bad


def _nan_gradient_bwd(bad, g):
    return jnp.where(bad, jnp.nan, g), None


_nan_gradient.defvjp(_nan_gradient_fwd, _nan_gradient_bwd)


class _NaNAtMicroSteps(tasks.CSLRTask):
    """CSLR whose loss (or, ``in_gradient``, only its gradient) is NaN at the given
    micro-steps."""

    nan_micro = (4,)
    in_gradient = False

    def loss_fn(self, model, aux, batch, step):
        loss, rest = super().loss_fn(model, aux, batch, step)
        bad = jnp.isin(step.micro, jnp.asarray(self.nan_micro, jnp.int32))
        if self.in_gradient:
            return _nan_gradient(loss, bad), rest
        return loss + jnp.where(bad, jnp.nan, 0.0), rest


@pytest.mark.parametrize("in_gradient", [False, True], ids=["loss", "gradient"])
def test_a_skipped_micro_batch_is_replaced_not_counted(data, tmp_path, in_gradient):
    """Micro-step 4 (the 2nd of update 1) is NaN, in its loss or in its gradients
    alone: it is dropped from the mean and fit draws a 13th micro-batch, so
    MultiSteps still makes 4 updates of 3 finite micro-batches each and the counts
    agree."""
    cfg, (train, vocab) = _config(), data
    task = _NaNAtMicroSteps(cfg, len(vocab))
    task.in_gradient = in_gradient
    result = fit(cfg, task, train_source=train, dev_source=None, vocab=vocab,
                 workdir=str(tmp_path))  # fmt: skip
    state = jax.device_get(result.trainer.state)
    assert result.step == UPDATES and [h["step"] for h in result.history] == [1, 2, 3, 4]
    assert _counts(result) == (UPDATES, UPDATES * K + 1)
    assert int(state.nonfinite_total) == 1 and int(state.nonfinite_streak) == 0
    assert int(state.opt_state.mini_step) == 0  # ended on an update boundary
    assert result.history[-1]["nonfinite_total"] == 1.0
