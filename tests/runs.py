"""A finished tiny main-job run for the tests that need trained checkpoints.

``tiny_run`` trains ``configs/demo.py:tiny`` once (``recognize.ensure_run``:
``python -m signx_jax.main`` in a subprocess, a file lock for concurrent
callers) and caches it under the temp dir, keyed by a hash of the code that
shapes its checkpoints, so a code change retrains it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from signx_jax.recognize import ensure_run

REPO = Path(__file__).resolve().parents[1]
# What shapes a run's checkpoints: a change here invalidates a cached tiny run.
RUN_SOURCES = (
    "configs",
    "signx_jax/models",
    "signx_jax/train",
    "signx_jax/data",
    "signx_jax/decoding",
    "signx_jax/sharding.py",
    "data_pipelines/synthetic",
    "signx_jax/main.py",
    "signx_jax/bundle.py",  # the run's bundle
    "signx_jax/export.py",
)


def tiny_run(root: str | None = None) -> str:
    """A ``configs/demo.py:tiny`` run cached under ``root`` (default
    ``$SIGNX_TINY_RUN_ROOT`` or the temp dir); returns its work dir."""
    digest = hashlib.sha256()
    for top in RUN_SOURCES:
        paths = [REPO / top] if (REPO / top).is_file() else sorted((REPO / top).rglob("*.py"))
        for path in paths:
            digest.update(str(path.relative_to(REPO)).encode() + path.read_bytes())
    root = root or os.environ.get("SIGNX_TINY_RUN_ROOT") or tempfile.gettempdir()
    return ensure_run(os.path.join(root, f"signx-tiny-run-{digest.hexdigest()[:12]}"))


def one_device_env(**extra: str) -> dict[str, str]:
    """The environment of a child process on one CPU device, as a researcher runs
    on one machine (the suite's 8 simulated devices make tiny steps 2-4x slower,
    and a child hands its memory back when it ends); ``extra`` adds variables."""
    return dict(
        os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO),
        XLA_FLAGS="--xla_force_host_platform_device_count=1", **extra,
    )  # fmt: skip


def blank_lowered(decode):
    """``Recognizer.decode`` with the CTC blank lowered by 100 nats and CTC greedy ids:
    the tiny run's model may emit nothing, the lowered one emits what its posteriors
    rank next (the tests of recognize, the demo and live recognition use it)."""
    from scipy.special import logsumexp

    from signx_jax.schema import BLANK_ID as BLANK

    def lowered(self, z, route, method=None, pad_to=None):
        _, lp = decode(self, z, route, method, pad_to)
        lp = lp.copy()
        lp[:, BLANK] -= 100.0
        lp = lp - logsumexp(lp, axis=-1, keepdims=True)
        best = lp.argmax(-1)
        ids = [int(g) for k, g in enumerate(best) if g != BLANK and (k == 0 or g != best[k - 1])]
        return ids, lp

    return lowered
