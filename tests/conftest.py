"""Test-wide setup: 8 simulated CPU devices and a shared compilation cache.

XLA's CPU compiles dominate this suite's time; the persistent compilation
cache lets identical programs (the same tiny train step built by several
tests, or by the subprocesses of the multi-process and reliability tests)
compile once per machine.
"""

import os
import tempfile

# Must happen before jax is imported anywhere in the test process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "signx-jax-test-cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "2")
# fit's FLOP count lowers each step once more: skipped but in tests/train/test_mfu.py.
os.environ.setdefault("SIGNX_COUNT_FLOPS", "0")
