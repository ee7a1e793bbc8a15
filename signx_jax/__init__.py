"""SignX in JAX and Flax NNX (README)."""

from signx_jax.determinism import pin_cpu_numerics

pin_cpu_numerics()
