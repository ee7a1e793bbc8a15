"""CPU numerics that do not depend on how many cores the process may use.

The README calls the main job deterministic: the same command gives the same
metrics to the last digit. On the CPU backend that needs one XLA flag. XLA:CPU
hands reductions (a loss summed over the batch, the bias gradients summed over
batch x time) to YNNPACK, which splits them over the intra-op thread pool, one
thread per CPU in the process's affinity mask. The summation order, and so
the last bits of every gradient, then depend on the machine's core count (or
on ``taskset``): measured with jax 0.10.2, a [2048, 64] sum over axis 0
differs between 1, 2 and 16 CPUs, and 3,000 training steps turn those bits
into different models and a few points of test WER.

``--xla_cpu_experimental_ynn_fusion_type=-reduce`` keeps YNNPACK for dots
(their results do not depend on the thread count: measured at 1 to 64 CPUs)
and lets XLA emit reductions itself, in an order fixed at compile time.
What still differs between machines is written in the README ("What the main
job reaches").

``import signx_jax`` calls ``pin_cpu_numerics()``: XLA reads ``XLA_FLAGS``
when it starts its first backend, so the flag takes effect unless JAX ran a
computation before ``signx_jax`` was imported (then a warning says so).
"""

from __future__ import annotations

import os
import sys
import warnings

YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
CPU_FLAGS = (f"{YNN_FUSION_FLAG}=-reduce",)


def with_cpu_flags(xla_flags: str) -> str:
    """``xla_flags`` plus ``CPU_FLAGS``; a flag the caller already set is kept as set."""
    words = xla_flags.split()
    for flag in CPU_FLAGS:
        name = flag.split("=", 1)[0]
        if not any(w == name or w.startswith(name + "=") for w in words):
            words.append(flag)
    return " ".join(words)


def pin_cpu_numerics() -> bool:
    """Add ``CPU_FLAGS`` to ``XLA_FLAGS``; False when a JAX backend already started."""
    os.environ["XLA_FLAGS"] = with_cpu_flags(os.environ.get("XLA_FLAGS", ""))
    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            warnings.warn(
                "signx_jax imported after JAX started a backend: XLA_FLAGS "
                f"{' '.join(CPU_FLAGS)} is not in effect, so CPU results depend on "
                "the number of cores; import signx_jax before the first JAX computation",
                stacklevel=2,
            )
            return False
    return True
