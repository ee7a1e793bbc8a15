"""Dataset converters, pose extraction and the synthetic corpus (README "Data")."""

import signx_jax  # noqa: F401  (quiets TensorFlow's start-up lines before any import of it)
