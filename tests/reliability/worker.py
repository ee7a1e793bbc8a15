"""A training process for the issue-9 tests: ``fit()`` on a tiny latent split.

``python -m tests.reliability.worker '<json spec>'``. Spec keys: ``workdir``,
``data_dir``, ``total_steps``, optional ``config`` overrides ("section.key"),
``out`` (write the final state to this .npz), and fault hooks:

* ``kill_after_step: k``       SIGKILL itself right after step k (before its save);
* ``kill_in_finalize: k``      SIGKILL inside orbax's commit of checkpoint k: the
                               tmp dir is written but not yet renamed;
* ``kill_in_item_finalize: k`` SIGKILL while the items of checkpoint k are committed;
* ``signal_after_step: [k, n]`` send itself signal n right after step k;
* ``sleep_per_step: s``        slow steps down so a test can signal mid-run;
* ``nan_steps: [...]``         the loss is NaN at these (0-based) micro-steps.

Prints ``STEP <step> <sha256 of params>`` after every step, then
``DONE <status> <step> <nonfinite_total> <masked input records>`` or ``DIVERGED <latest> <digest>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from orbax.checkpoint._src.path import atomicity

from signx_jax import checkpoint as ckpt_lib
from signx_jax.data import shards
from signx_jax.data.vocab import Vocabulary
from signx_jax.train import loop, tasks
from signx_jax.train.fit import fit
from tests.reliability.helpers import tiny_cslr_config

JOB = json.loads(sys.argv[1])
_trainer: list = []


def digest(tree) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(jax.device_get(tree)):
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()[:16]


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


_train_step = loop.Trainer.train_step


def train_step(self, batch):
    metrics = _train_step(self, batch)
    _trainer[:1] = [self]
    step = int(jax.device_get(self.state.step))
    print(f"STEP {step} {digest(self.state.params)}", flush=True)
    if JOB.get("kill_after_step") == step:
        _die()
    if JOB.get("signal_after_step", [None])[0] == step:
        os.kill(os.getpid(), JOB["signal_after_step"][1])
    time.sleep(JOB.get("sleep_per_step", 0))
    return metrics


_finalize = atomicity.AtomicRenameTemporaryPath.finalize


async def finalize(self, *args, **kwargs):
    final = self._final_path  # noqa: SLF001 - the hook needs orbax's target path
    if JOB.get("kill_in_finalize") is not None and final.name == str(JOB["kill_in_finalize"]):
        _die()
    item_step = JOB.get("kill_in_item_finalize")
    if item_step is not None and final.parent.name.startswith(f"{item_step}."):
        _die()
    return await _finalize(self, *args, **kwargs)


class NaNAtSteps(tasks.CSLRTask):
    def loss_fn(self, model, aux, batch, step):
        loss, rest = super().loss_fn(model, aux, batch, step)
        bad = jnp.isin(step.micro, jnp.asarray(JOB["nan_steps"], jnp.int32))
        return loss + jnp.where(bad, jnp.nan, 0.0), rest


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.ERROR)
    loop.Trainer.train_step = train_step
    atomicity.AtomicRenameTemporaryPath.finalize = finalize
    cfg = tiny_cslr_config(JOB["total_steps"], **JOB.get("config", {}))
    data_dir = JOB["data_dir"]
    vocab = Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    task_cls = NaNAtSteps if JOB.get("nan_steps") else tasks.CSLRTask
    task = task_cls(cfg, len(vocab), class_counts=vocab.counts)
    train = shards.open_split(data_dir, "train")
    try:
        result = fit(cfg, task, train_source=train, dev_source=None, vocab=vocab,
                     workdir=JOB["workdir"])  # fmt: skip
    except loop.TrainingDiverged as e:
        ckpt = ckpt_lib.Checkpointer(os.path.join(JOB["workdir"], "checkpoints"), read_only=True)
        latest = ckpt.latest_step()
        state = ckpt.restore(latest, _trainer[0].abstract_state())
        print(f"DIVERGED {latest} {digest(state.params)} {state.nonfinite_total}", flush=True)
        print(str(e), file=sys.stderr)
        return 3
    state = result.trainer.state
    if JOB.get("out"):
        leaves = jax.tree.leaves(jax.device_get((state.params, state.rest, state.opt_state)))
        np.savez(JOB["out"], *leaves)
    total = int(jax.device_get(state.nonfinite_total))
    masked = int(result.history[-1]["nonfinite_inputs"]) if result.history else 0
    print(f"DONE {result.status} {result.step} {total} {masked}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
