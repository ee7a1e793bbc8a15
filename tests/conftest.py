"""Test-wide setup: 8 simulated CPU devices, a shared compilation cache, and memory
handed back between test files.

XLA's CPU compiles dominate this suite's time; the persistent compilation
cache lets identical programs (the same tiny train step built by several
tests, or by the subprocesses of the multi-process and reliability tests)
compile once per machine. A worker runs dozens of test files in one process:
each file's compiled programs are dropped when it ends, and the freed heap is
returned to the system, so two workers and the subprocesses of a training test
fit in 24 GiB (a worker grew to 8.8 GB without this and was killed for memory).
"""

import ctypes
import gc
import os
import tempfile

import pytest

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

# The files that take minutes (a clean clone on 2 cores), longest first. CI runs them
# first (``--no-loadscope-reorder`` keeps this order), so neither worker is left with
# one of them at the end while the other idles.
SLOW_FILES = (
    "tests/test_recipes.py",  # five datasets' recipes, the paper's pose-route experiments
    "tests/test_paper.py",  # Table 8, Table 9 (video route) at tiny size, after the tiny run
    "tests/test_recognize.py",
    "tests/data_pipelines/test_dataset_configs.py",
    "tests/train/test_main_evaluate.py",
    "tests/reliability/test_training_faults.py",
    "tests/train/test_tasks.py",
    "tests/test_notebooks.py",
)


def pytest_collection_modifyitems(items):
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(autouse=True, scope="module")
def _release_memory_after_each_file():
    yield
    import jax

    jax.clear_caches()
    gc.collect()
    try:  # glibc keeps freed pages in its arenas until asked
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
