"""Stage 1 - Pose2Gloss: the fusion ViT that defines the latent space (paper section 3.2).

poses [B, T, 1959] --split by schema.STREAMS--> per-stream MLP encoders E_i
(eq. 1, f_i in R^d_h) --> multi-head attention across the 5 stream tokens of
each frame, absent streams masked as keys --> PadMatch (eq. 2: the 5 slots,
absent ones zero, concatenated and projected to Dz) --> pre-LN ViT layers over
time (eq. 3) --> z_latent [B, T, Dz].

The CodeBook decoder is a small transformer decoder over the dataset's gloss
vocabulary cross-attending to z_latent. ``contrastive_embeddings`` gives the
pooled pair for the InfoNCE loss; ``token_embedding`` / ``embedding_matrix``
give the table for the word-matching cosine loss (Appendix B.1).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from signx_jax.models import layers
from signx_jax.schema import STREAM_NAMES, STREAMS
from signx_jax.sharding import constrain, param_axes


class StreamEncoder(nnx.Module):
    """E_i: pose features of one stream [..., dim_i] -> f_i [..., d_h]."""

    def __init__(self, in_dim: int, cfg: Any, *, rngs: nnx.Rngs):
        d_h = cfg.stream_hidden
        self.mlp = layers.Mlp(
            in_dim, d_h, d_h, cfg, rngs=rngs, axes_in=("pose", "mlp"), axes_out=("mlp", "embed")
        )
        self.ln = layers.layer_norm(d_h, cfg, rngs)

    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        return self.ln(self.mlp(x, deterministic=deterministic))


class StreamFusion(nnx.Module):
    """Eq. 1-2: per-stream encoders, attention across streams, PadMatch -> [B, T, Dz]."""

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        unknown = set(cfg.streams) - set(STREAM_NAMES)
        if unknown:
            raise ValueError(f"pose2gloss: unknown streams {sorted(unknown)}; use {STREAM_NAMES}")
        d_h, n = cfg.stream_hidden, len(STREAMS)
        self.dtype = layers.compute_dtype(cfg)
        self.enabled = tuple(name in cfg.streams for name in STREAM_NAMES)
        self.encoders = nnx.Dict(
            {
                name: StreamEncoder(dim, cfg, rngs=rngs)
                for name, dim in STREAMS
                if name in cfg.streams
            }
        )
        # Tells the attention which tool a token came from.
        self.stream_embedding = nnx.Param(
            param_axes(nnx.initializers.normal(0.02), ("stream", "embed"))(
                rngs.params(), (n, d_h), jnp.dtype(cfg.param_dtype)
            )
        )
        self.ln = layers.layer_norm(d_h, cfg, rngs)
        self.attn = layers.MultiHeadAttention(d_h, cfg.fusion_heads, cfg, rngs=rngs)
        self.dropout = nnx.Dropout(cfg.dropout_res, rngs=rngs)
        # PadMatch: every stream owns a d_h slot of the padded vector; a slot of an
        # absent or disabled stream is zero, so any subset of streams fits one shape.
        self.pad_match = layers.dense(n * d_h, cfg.latent_dim, ("mlp", "embed"), cfg, rngs)

    def __call__(self, poses: jax.Array, presence: jax.Array, *, deterministic: bool) -> jax.Array:
        """poses [B, T, 1959], presence [B, T, 5] bool -> PadMatch output [B, T, Dz]."""
        batch, time = poses.shape[:2]
        present = presence & jnp.asarray(self.enabled)
        tokens = []
        for name, x in zip(STREAM_NAMES, layers.split_streams(poses), strict=True):
            if name in self.encoders:
                x = x.astype(self.dtype)
                tokens.append(self.encoders[name](x, deterministic=deterministic))
            else:
                tokens.append(jnp.zeros((batch, time, self.stream_embedding.shape[1]), self.dtype))
        f = jnp.stack(tokens, axis=2) + self.stream_embedding[...].astype(self.dtype)
        f = f.reshape(batch * time, len(tokens), -1)  # [B*T, 5, d_h]: streams are the tokens
        key_mask = present.reshape(batch * time, 1, 1, -1)
        h = self.ln(f)
        f = f + self.dropout(self.attn(h, h, key_mask, deterministic=deterministic),
                             deterministic=deterministic)  # fmt: skip
        f = f * present.reshape(batch * time, -1, 1).astype(f.dtype)  # zero-pad absent slots
        z = self.pad_match(f.reshape(batch, time, -1))
        return constrain(z, ("batch", "length", "act_embed"))


class Pose2Gloss(nnx.Module):
    """Fusion encoder (poses -> z_latent) plus CodeBook decoder (z_latent -> gloss ids)."""

    def __init__(self, cfg: Any, vocab_size: int, *, rngs: nnx.Rngs):
        self.latent_dim = cfg.latent_dim
        self.dtype = layers.compute_dtype(cfg)
        self.fusion = StreamFusion(cfg, rngs=rngs)
        self.input_dropout = nnx.Dropout(cfg.dropout_res, rngs=rngs)
        self.vit = layers.TransformerEncoder(
            cfg.vit_layers, cfg.latent_dim, cfg.vit_heads, cfg.vit_mlp, cfg, rngs=rngs
        )
        self.decoder = layers.TransformerDecoder(
            vocab_size, cfg.dec_layers, cfg.dec_width, cfg.dec_heads, cfg.dec_mlp,
            cfg.latent_dim, cfg, rngs=rngs,
        )  # fmt: skip
        self.latent_proj = layers.dense(
            cfg.latent_dim, cfg.contrastive_dim, ("embed", "mlp"), cfg, rngs
        )
        self.text_proj = layers.dense(
            cfg.dec_width, cfg.contrastive_dim, ("embed", "mlp"), cfg, rngs
        )

    @property
    def token_embedding(self) -> nnx.Embed:
        """The CodeBook's gloss embedding table (nnx.Embed, [V, dec_width])."""
        return self.decoder.token_embedding

    def embedding_matrix(self) -> jax.Array:
        """[V, dec_width] float32 gloss embeddings (word-matching loss)."""
        return self.decoder.token_embedding.embedding[...]

    def encode(
        self,
        poses: jax.Array,
        presence: jax.Array,
        frame_mask: jax.Array,
        *,
        deterministic: bool,
    ) -> jax.Array:
        """poses [B, T, 1959], presence [B, T, 5], frame_mask [B, T] -> z [B, T, Dz] float32.

        Padded frames (frame_mask False) are zero in the output and never attended to.
        """
        frame_mask = frame_mask.astype(bool)
        z = self.fusion(poses, presence.astype(bool), deterministic=deterministic)
        pos = layers.sinusoidal_positions(jnp.arange(z.shape[1])[None], self.latent_dim)
        z = self.input_dropout(z + pos.astype(z.dtype), deterministic=deterministic)
        z = self.vit(z, frame_mask, deterministic=deterministic)
        return (z * frame_mask[..., None].astype(z.dtype)).astype(jnp.float32)

    def decode(
        self, z: jax.Array, frame_mask: jax.Array, tokens_in: jax.Array, *, deterministic: bool
    ) -> jax.Array:
        """z [B, T, Dz], tokens_in [B, L] (BOS-prefixed) -> logits [B, L, V] float32."""
        return self.decoder(
            tokens_in, z.astype(self.dtype), frame_mask.astype(bool), deterministic=deterministic
        )

    def __call__(
        self,
        poses: jax.Array,
        presence: jax.Array,
        frame_mask: jax.Array,
        tokens_in: jax.Array,
        *,
        deterministic: bool,
    ) -> tuple[jax.Array, jax.Array]:
        """Encode then decode: -> (z [B, T, Dz], logits [B, L, V])."""
        z = self.encode(poses, presence, frame_mask, deterministic=deterministic)
        return z, self.decode(z, frame_mask, tokens_in, deterministic=deterministic)

    def contrastive_embeddings(
        self, z: jax.Array, frame_mask: jax.Array, labels: jax.Array, label_mask: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Pooled latent and pooled gloss embedding: -> (zv [B, E], zt [B, E]) float32."""
        zv = self.latent_proj(layers.masked_mean(z, frame_mask).astype(self.dtype))
        emb = self.decoder.token_embedding(labels)
        zt = self.text_proj(layers.masked_mean(emb, label_mask).astype(self.dtype))
        return zv.astype(jnp.float32), zt.astype(jnp.float32)

    def frame_gloss_logits(self, z: jax.Array, temperature: float) -> jax.Array:
        """z [B, T, Dz] -> [B, T, V] cosine similarity of each frame to each CodeBook gloss
        in the contrastive space, / temperature: a frame-level CTC head without new
        parameters (stage 1's optional CTC loss, ``loss.ctc_weight``)."""
        zv = self.latent_proj(z.astype(self.dtype)).astype(jnp.float32)
        zt = self.text_proj(self.decoder.token_embedding.embedding[...].astype(self.dtype))
        unit = lambda x: x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + 1e-12)
        return unit(zv) @ unit(zt.astype(jnp.float32)).T / temperature

    def init_decode_cache(self, batch: int, max_len: int) -> dict[str, jax.Array]:
        return self.decoder.init_cache(batch, max_len)

    def decode_step(
        self,
        z: jax.Array,
        frame_mask: jax.Array,
        tokens: jax.Array,
        step: jax.Array,
        cache: dict[str, jax.Array],
    ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """Incremental CodeBook decoding: see ``layers.TransformerDecoder.decode_step``."""
        return self.decoder.decode_step(z, frame_mask.astype(bool), tokens, step, cache)
