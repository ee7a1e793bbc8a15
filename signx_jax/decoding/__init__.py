"""Compiled decoding (paper Algorithm 3; README "Design").

- ``ctc``: CTC greedy and prefix beam search on the CTC head.
- ``attention``: attention-decoder beam search with attention-entropy,
  length and repetition penalties; greedy decoding; sampling.
- ``joint``: CTC prefix scores for joint CTC/attention decoding and n-best
  rescoring.
- ``model``: ``decode_cslr``, the searches applied to a ``CSLR`` model.
"""

from signx_jax.decoding.attention import (
    apply_repetition_penalty,
    attention_beam_search,
    attention_entropy,
    gnmt_length_penalty,
    greedy_autoregressive,
    sample,
)
from signx_jax.decoding.ctc import ctc_greedy, ctc_prefix_beam_search
from signx_jax.decoding.joint import (
    CTCPrefixScorer,
    CTCPrefixState,
    ctc_prefix_advance,
    ctc_prefix_init,
    ctc_prefix_scores,
    ctc_sequence_log_prob,
    rescore_nbest,
)
from signx_jax.decoding.model import decode_cslr

__all__ = [
    "CTCPrefixScorer",
    "CTCPrefixState",
    "apply_repetition_penalty",
    "attention_beam_search",
    "attention_entropy",
    "ctc_greedy",
    "ctc_prefix_advance",
    "ctc_prefix_beam_search",
    "ctc_prefix_init",
    "ctc_prefix_scores",
    "ctc_sequence_log_prob",
    "decode_cslr",
    "gnmt_length_penalty",
    "greedy_autoregressive",
    "rescore_nbest",
    "sample",
]
