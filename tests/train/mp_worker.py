"""One process of the multi-process training test (tests/train/test_multiprocess.py).

Run under ``launch/local_multiprocess.sh N -- python tests/train/mp_worker.py WORKDIR STEPS``:
joins the N-process cluster, trains the micro CSLR with ``fit`` to STEPS (resuming
from WORKDIR's newest checkpoint if there is one; the checkpoint is written by
every process through orbax) and writes ``WORKDIR/result-<process>.json`` with
the step reached and a fingerprint of the final parameters.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from signx_jax import distributed  # noqa: E402

distributed.initialize()  # before any JAX computation

import jax  # noqa: E402
import numpy as np  # noqa: E402

from signx_jax.data.vocab import Vocabulary  # noqa: E402
from signx_jax.sharding import gather as _gather  # noqa: E402
from signx_jax.train import tasks  # noqa: E402
from signx_jax.train.fit import fit  # noqa: E402
from tests.train.helpers import latent_records, micro_cslr_config  # noqa: E402

DIM = 16


def main(workdir: str, steps: int) -> None:
    train = latent_records(32, DIM, seed=0)
    vocab = Vocabulary.build([r["gloss"] for r in train])
    cfg = micro_cslr_config(DIM)
    cfg.mesh.update(data=-1, fsdp=2, tensor=1)  # all 8 devices of the 2 processes
    cfg.train.update(total_steps=100, checkpoint_every=1000)
    task = tasks.CSLRTask(cfg, len(vocab))
    result = fit(cfg, task, train_source=train, dev_source=None, vocab=vocab,
                 workdir=workdir, max_steps=steps)  # fmt: skip
    params = _gather(result.trainer.state.params)
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(params)]
    out = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "mesh": {k: int(v) for k, v in result.trainer.mesh.shape.items()},
        "step": result.step,
        "state_step": int(jax.device_get(_gather(result.trainer.state.step))),
        "losses": [h["loss"] for h in result.history],
        "param_sum": float(sum(x.sum() for x in leaves)),
        "param_abs_sum": float(sum(np.abs(x).sum() for x in leaves)),
    }
    with open(os.path.join(workdir, f"result-{jax.process_index()}.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
