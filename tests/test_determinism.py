"""CPU results do not depend on the number of cores (signx_jax/determinism.py)."""

import os
import subprocess
import sys

import pytest

from signx_jax import determinism

# A bias gradient: the cotangent [B*T = 2048, 64] summed over the batch axis,
# which differed between 1 and 2 CPUs with XLA's default YNNPACK reductions.
_PROBE = """
import hashlib, os, sys
os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: int(sys.argv[1])]))
if sys.argv[2] == "pinned":
    import signx_jax  # noqa: F401  (sets XLA_FLAGS before JAX starts)
import jax, jax.numpy as jnp, numpy as np
x = jnp.asarray(np.random.default_rng(0).normal(size=(2048, 64)), jnp.float32)
g = jax.jit(lambda d: jnp.sum(d, axis=0))(x)  # the bias gradient of a cotangent d
print(hashlib.sha256(np.asarray(g).tobytes()).hexdigest())
"""


def _probe(cpus: int, mode: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(cpus), mode],
        env=env, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return out.stdout.split()[-1]


def test_with_cpu_flags_appends_once_and_keeps_user_settings():
    flag = determinism.CPU_FLAGS[0]
    assert determinism.with_cpu_flags("") == flag
    two = "--xla_force_host_platform_device_count=8"
    assert determinism.with_cpu_flags(two) == f"{two} {flag}"
    assert determinism.with_cpu_flags(f"{two} {flag}") == f"{two} {flag}"
    own = f"{determinism.YNN_FUSION_FLAG}=dot"
    assert determinism.with_cpu_flags(own) == own


def test_import_sets_the_flag():
    assert determinism.CPU_FLAGS[0] in os.environ["XLA_FLAGS"].split()


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs 2 CPUs to compare 1 with 2",
)
def test_gradient_bits_same_on_one_and_two_cores():
    assert _probe(1, "pinned") == _probe(2, "pinned")
    # The probe can fail: without the flag the same gradient differs.
    assert _probe(1, "default") != _probe(2, "default")
