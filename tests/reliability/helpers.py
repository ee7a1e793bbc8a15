"""Shared pieces of the issue-9 tests: a tiny latent dataset, the smallest CSLR
config that trains, and a launcher for ``worker.py`` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from configs.common import train_config
from signx_jax.data import shards
from signx_jax.data.vocab import Vocabulary

REPO = Path(__file__).resolve().parents[2]
WORDS = ("IX", "NOT-YET", "ARRIVE", "HOUSE", "GO", "WANT")
LATENT_DIM = 64  # cslr tiny latent_dim


def latent_records(n: int, *, seed: int = 0, nan_records: tuple[int, ...] = ()) -> list[dict]:
    """``n`` latent records (T in [24, 32], two distinct glosses each); the
    records in ``nan_records`` get a NaN and an Inf in their latent."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        latent = rng.normal(size=(int(rng.integers(24, 33)), LATENT_DIM)).astype(np.float32)
        if i in nan_records:
            latent[3, 5], latent[-1, 0] = np.nan, np.inf
        glosses = rng.choice(WORDS, 2, replace=False)
        out.append({"clip_id": f"c{i}", "dataset": "synthetic", "latent": latent,
                    "gloss": " ".join(glosses), "translation": ""})  # fmt: skip
    return out


def write_latent_dataset(out_dir: Path, n: int = 8, **kwargs) -> Path:
    records = latent_records(n, **kwargs)
    shards.write_split(records, str(out_dir), "train", records_per_shard=4)
    shards.write_split(records[:4], str(out_dir), "dev")
    Vocabulary.build(r["gloss"] for r in records).save(str(out_dir / "vocab.json"))
    return out_dir


def tiny_cslr_config(total_steps: int = 12, **overrides):
    """vac_baseline tiny (conv + BiLSTM + CTC): the cheapest stage-3 step to compile."""
    c = train_config("cslr", "tiny", variant="vac_baseline")
    c.train.total_steps = total_steps
    c.train.log_every = 1
    c.train.eval_every = 0
    c.train.checkpoint_every = 4
    c.train.keep_best = 1
    c.data.batch_size = 4
    c.data.eval_batch_size = 4
    c.data.buckets = (32,)
    c.data.max_label_len = 4
    c.data.num_views = 1
    c.optim.grad_accum_steps = 1
    c.optim.noam_warmup = 10  # a visible lr from step 1
    c.mesh.data = 1
    for key, value in overrides.items():
        section, name = key.split(".")
        c[section][name] = value
    return c


def worker_env(cache_dir: Path) -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # one CPU device: cheaper than 8 simulated ones
    env.update(
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(cache_dir),  # later workers reuse compiled steps
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(spec: dict, cache_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.worker", json.dumps(spec)],
        cwd=REPO,
        env=worker_env(cache_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_worker(spec: dict, cache_dir: Path, timeout: float = 600) -> tuple[int, list[str], str]:
    """Run a worker to the end; return (exit code, stdout lines, stderr)."""
    proc = start_worker(spec, cache_dir)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.splitlines(), err


def steps_of(lines: list[str]) -> list[tuple[int, str]]:
    """(step, params digest) of every ``STEP`` line a worker printed."""
    return [(int(p[1]), p[2]) for p in (ln.split() for ln in lines) if p and p[0] == "STEP"]


def complete_steps(workdir: Path) -> list[int]:
    """Checkpoint steps orbax finished (renamed from their tmp dir)."""
    ckpt_dir = workdir / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    return sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())
