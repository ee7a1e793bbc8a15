"""Decoding a ``CSLR`` model's outputs (README "Design"): one entry point per method,
and the stage-1 CodeBook decoder's attention beam search (``decode_pose2gloss``).

Glue between ``signx_jax.models.cslr.CSLR`` (``decode_step``,
``init_decode_cache``; its KV cache is [layers, N, ...], so beams live on
dim 1) and the generic searches of this package. Call inside ``nnx.jit`` with
the model as an argument, e.g.::

    @nnx.jit(static_argnames=("method", "beam", "max_len"))
    def decode(model, latent, mask, method, beam, max_len):
        out = model(latent, mask, deterministic=True)
        return decode_cslr(model, out, method=method, beam=beam, max_len=max_len)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from signx_jax.decoding.attention import attention_beam_search
from signx_jax.decoding.ctc import ctc_greedy, ctc_prefix_beam_search
from signx_jax.decoding.joint import CTCPrefixScorer
from signx_jax.schema import BLANK_ID

METHODS = ("ctc_greedy", "ctc_beam", "attention", "joint")


def decode_cslr(
    model: Any,
    out: dict[str, Any],
    *,
    method: str,
    beam: int = 8,
    max_len: int,
    entropy_alpha: float = 0.0,
    length_penalty: float = 0.0,
    repetition_penalty: float = 1.0,
    ctc_weight: float = 0.3,
    ctc_pre_beam: int | None = None,
    prune_top_k: int | None = None,
    blank: int = BLANK_ID,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Decode the forward outputs ``out`` (ctc_logits, out_lengths, enc, enc_mask).

    method: ctc_greedy | ctc_beam | attention | joint (attention + CTC prefix
    scores with ``ctc_weight``). Returns tokens [B, K, max_len] (-1 padded),
    lengths [B, K], scores [B, K] with K = 1 for ctc_greedy, else ``beam``.
    """
    if method not in METHODS:
        raise ValueError(f"decode_cslr: method must be one of {METHODS}, got {method!r}")
    ctc_lp = jax.nn.log_softmax(out["ctc_logits"].astype(jnp.float32), axis=-1)
    lengths = out["out_lengths"]
    if method == "ctc_greedy":
        tokens, n = ctc_greedy(ctc_lp, lengths, blank=blank)
        tokens = jnp.pad(
            tokens, ((0, 0), (0, max(max_len - tokens.shape[1], 0))), constant_values=-1
        )
        return (
            tokens[:, None, :max_len],
            jnp.minimum(n, max_len)[:, None],
            jnp.zeros_like(n, jnp.float32)[:, None],
        )
    if method == "ctc_beam":
        return ctc_prefix_beam_search(
            ctc_lp, lengths, beam=beam, blank=blank, prune_top_k=prune_top_k, max_len=max_len
        )
    joint = method == "joint"
    return _beam_over_memory(
        model,
        out["enc"],
        out["enc_mask"],
        beam=beam,
        max_len=max_len,
        entropy_alpha=entropy_alpha,
        length_penalty=length_penalty,
        repetition_penalty=repetition_penalty,
        ctc_scorer=CTCPrefixScorer(ctc_lp, lengths, blank=blank) if joint else None,
        ctc_weight=ctc_weight if joint else 0.0,
        ctc_pre_beam=ctc_pre_beam,
    )


def _beam_over_memory(
    model: Any, memory: jax.Array, mask: jax.Array, *, beam: int, max_len: int, **search
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Attention beam search of ``model.decode_step`` cross-attending to ``memory``
    [B, S, D] (repeated per beam; the KV cache is [layers, N, ...]: beams on dim 1)."""
    batch = memory.shape[0]
    memory_rep, mask_rep = jnp.repeat(memory, beam, axis=0), jnp.repeat(mask, beam, axis=0)

    def step_fn(cache, tokens, t):
        return model.decode_step(memory_rep, mask_rep, tokens, t, cache)

    return attention_beam_search(
        step_fn,
        model.init_decode_cache(batch * beam, max_len),
        batch=batch,
        beam=beam,
        max_len=max_len,
        state_axis=1,
        **search,
    )


def decode_pose2gloss(
    model: Any,
    z: jax.Array,
    frame_mask: jax.Array,
    *,
    max_len: int,
    beam: int = 5,
    length_penalty: float = 0.7,
    repetition_penalty: float = 2.5,
    entropy_alpha: float = 0.0,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Attention beam search of a ``Pose2Gloss`` CodeBook decoder over z_latent
    [B, T, Dz] (defaults: the paper's Table 6 inference settings).
    Returns tokens [B, beam, max_len] (-1 padded), lengths and scores [B, beam]."""
    return _beam_over_memory(
        model,
        z,
        frame_mask,
        beam=beam,
        max_len=max_len,
        entropy_alpha=entropy_alpha,
        length_penalty=length_penalty,
        repetition_penalty=repetition_penalty,
    )
