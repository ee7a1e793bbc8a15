"""SignX continuous sign language recognition in JAX and Flax NNX (README)."""

import os as _os

# TensorFlow (TensorBoard events, TFRecord protos; it computes nothing here) prints
# C++ INFO lines at import: the oneDNN notice (only when TF_ENABLE_ONEDNN_OPTS is
# unset) and the CPU-feature notice. Its warnings and errors still show, and so do
# XLA's; a value the user set wins.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
