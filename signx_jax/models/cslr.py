"""Stage 3 - CSLR in the latent space (paper section 4, Appendix C).

latent z [B, T, D]
  -> feature compilation (Algorithm 1: LayerNorm, cross-covariance whitening,
     stochastic frame drop) and the adaptive prune mask (eq. 8: z * M)
  -> multi-scale TemporalConv (k = 3, 5, 7; T -> T/4) -> BiLSTM -> u [B, T', 2H]
  -> Linear to the transformer width -> transformer encoder -> CTC head
  -> transformer decoder over gloss tokens (teacher forced, or decode_step).
Gloss-aware latent distillation: a 1-D ResNet-34 teacher and a 2-layer MLP
student, both on the compiled z_t at frame rate.

The ``vac_baseline`` variant (configs/models.py) is VAC: one K5-P2-K5-P2
branch with valid padding, BiLSTM, linear CTC classifier, nothing else.
GlossAlign and the losses live in the training code; this module only returns
the tensors they need.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from signx_jax.models import layers, temporal
from signx_jax.sharding import constrain


class FeatureCompiler(nnx.Module):
    """Algorithm 1 lines 2-7: LayerNorm, covariance whitening, stochastic frame drop.

    CrossCov(z_t, z_{t-1}): after the LayerNorm every frame has zero mean and
    unit variance over its D dims, so c = mean_d(z_t * z_{t-1}) is the
    cross-covariance (= correlation) of consecutive frames; subtracting
    gamma * c * z_{t-1} removes the part of z_t the previous frame already
    explains (a first-order pre-whitening), i.e. the redundancy of slow motion.
    """

    def __init__(self, cfg: Any, *, rngs: nnx.Rngs):
        self.ln = layers.layer_norm(cfg.latent_dim, cfg, rngs)
        self.gamma, self.rho = cfg.whiten_gamma, cfg.frame_drop
        self.rngs = rngs["dropout"].fork()

    def __call__(
        self, z: jax.Array, mask: jax.Array, *, deterministic: bool
    ) -> tuple[jax.Array, jax.Array]:
        """z [B, T, D], mask [B, T] -> (compiled z [B, T, D], mask after frame drop [B, T])."""
        m = mask[..., None].astype(jnp.float32)
        z = self.ln(z).astype(jnp.float32) * m
        prev = jnp.pad(z[:, :-1], ((0, 0), (1, 0), (0, 0)))  # z_{t-1}, zero before t = 0
        cross_cov = jnp.mean(z * prev, axis=-1, keepdims=True)
        z = z - self.gamma * cross_cov * prev
        if not deterministic and self.rho > 0:
            keep = jax.random.bernoulli(self.rngs(), 1.0 - self.rho, mask.shape)
            mask = mask & keep
        return z * mask[..., None].astype(z.dtype), mask


class CSLR(nnx.Module):
    """Stage-3 recogniser; see the module docstring and ``configs.models.cslr_config``."""

    def __init__(self, cfg: Any, vocab_size: int, *, rngs: nnx.Rngs):
        self.conv_spec = temporal.ConvSpec.from_config(cfg)
        self.dtype = layers.compute_dtype(cfg)
        self.use_pruning = cfg.use_pruning
        self.compiler = FeatureCompiler(cfg, rngs=rngs) if cfg.use_feature_compilation else None
        if cfg.use_distillation:
            self.student = layers.Mlp(
                cfg.latent_dim, cfg.student_hidden, vocab_size, cfg, activation="relu",
                rngs=rngs, axes_out=("mlp", "vocab"),
            )  # fmt: skip
            self.teacher = temporal.ResNet1D(cfg, vocab_size, rngs=rngs)
        else:
            self.student = self.teacher = None
        # use_conv_lstm=False: frames go straight to the transformer at frame rate (the
        # pixel-space "Transformer + visual encoder" baseline, signx_jax/models/pixel.py).
        if cfg.get("use_conv_lstm", True):
            self.conv = temporal.MultiScaleTemporalConv(cfg, rngs=rngs)
            self.bilstm = temporal.BiLSTM(cfg, rngs=rngs)
            lstm_out = 2 * cfg.lstm_hidden
        else:
            self.conv = self.bilstm = None
            lstm_out = cfg.latent_dim
        if cfg.use_transformer:
            self.enc_proj = layers.dense(lstm_out, cfg.width, ("mlp", "embed"), cfg, rngs)
            self.enc_dropout = nnx.Dropout(cfg.dropout_res, rngs=rngs)
            self.encoder = layers.TransformerEncoder(
                cfg.enc_layers, cfg.width, cfg.heads, cfg.mlp, cfg, rngs=rngs
            )
            enc_width = cfg.width
        else:
            self.enc_proj = self.enc_dropout = self.encoder = None
            enc_width = lstm_out
        self.enc_width = enc_width
        self.ctc_head = layers.dense(enc_width, vocab_size, ("embed", "vocab"), cfg, rngs)
        if cfg.use_decoder:
            self.decoder = layers.TransformerDecoder(
                vocab_size, cfg.dec_layers, cfg.width, cfg.heads, cfg.mlp, enc_width, cfg,
                rngs=rngs,
            )  # fmt: skip
        else:
            self.decoder = None

    def output_lengths(self, lengths: jax.Array) -> jax.Array:
        """Valid encoder frames for input lengths [B] -> [B] int32 (matches the convs)."""
        if self.conv is None:
            return jnp.asarray(lengths, jnp.int32)
        return temporal.conv_output_lengths(self.conv_spec, lengths)

    def _encode(
        self, latent: jax.Array, frame_mask: jax.Array, prune_mask: jax.Array | None,
        deterministic: bool,
    ) -> dict[str, Any]:  # fmt: skip
        frame_mask = frame_mask.astype(bool)
        lengths = frame_mask.sum(-1).astype(jnp.int32)
        z = latent.astype(jnp.float32) * frame_mask[..., None]
        kd_mask = frame_mask
        if self.compiler is not None:
            z, kd_mask = self.compiler(z, frame_mask, deterministic=deterministic)
        if self.use_pruning and prune_mask is not None:
            z = z * prune_mask.astype(z.dtype)
        compiled = constrain(z, ("batch", "length", "act_embed"))
        out: dict[str, Any] = {"compiled": compiled, "compiled_mask": kd_mask}
        if self.teacher is not None:
            zc = compiled.astype(self.dtype)
            out["student_logits"] = self.student(zc, deterministic=deterministic).astype(
                jnp.float32
            )
            out["teacher_logits"] = self.teacher(zc, kd_mask, deterministic=deterministic)
        else:
            out["student_logits"] = out["teacher_logits"] = None

        if self.conv is None:
            u, out_lengths = compiled.astype(self.dtype), lengths
        else:
            h, out_lengths = self.conv(
                compiled.astype(self.dtype), lengths, deterministic=deterministic
            )
            u = self.bilstm(h, out_lengths)
        enc_mask = temporal.length_mask(out_lengths, u.shape[1])
        if self.encoder is not None:
            pos = layers.sinusoidal_positions(jnp.arange(u.shape[1])[None], self.enc_width)
            e = self.enc_dropout(
                self.enc_proj(u) + pos.astype(self.dtype), deterministic=deterministic
            )
            enc = self.encoder(e, enc_mask, deterministic=deterministic)
        else:
            enc = u
        out.update(enc=enc, enc_mask=enc_mask, out_lengths=out_lengths)
        out["ctc_logits"] = constrain(
            self.ctc_head(enc).astype(jnp.float32), ("batch", "length", "act_vocab")
        )
        return out

    def __call__(
        self,
        latent: jax.Array,
        frame_mask: jax.Array,
        prune_mask: jax.Array | None = None,
        tokens_in: jax.Array | None = None,
        *,
        deterministic: bool,
    ) -> dict[str, Any]:
        """latent [B, T, D], frame_mask [B, T], prune_mask [D], tokens_in [B, L] -> dict.

        Keys: ctc_logits [B, T', V], out_lengths [B], enc [B, T', W], enc_mask [B, T'],
        dec_logits [B, L, V] | None, student_logits / teacher_logits [B, T, V] | None,
        compiled [B, T, D], compiled_mask [B, T] (frame mask after frame drop).
        """
        out = self._encode(latent, frame_mask, prune_mask, deterministic)
        out["dec_logits"] = None
        if tokens_in is not None and self.decoder is not None:
            out["dec_logits"] = self.decoder(
                tokens_in, out["enc"], out["enc_mask"], deterministic=deterministic
            )
        return out

    def _require_decoder(self) -> layers.TransformerDecoder:
        if self.decoder is None:
            raise ValueError("cslr.CSLR: this variant has no decoder (use_decoder=False)")
        return self.decoder

    def init_decode_cache(self, batch: int, max_len: int) -> dict[str, jax.Array]:
        """Zero KV cache for ``decode_step``: {"k", "v": [layers, batch, max_len, H, dh]}."""
        return self._require_decoder().init_cache(batch, max_len)

    def decode_step(
        self,
        enc: jax.Array,
        enc_mask: jax.Array,
        tokens: jax.Array,
        step: jax.Array,
        cache: dict[str, jax.Array],
    ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """enc [N, S, W], enc_mask [N, S], tokens [N] at ``step`` -> (logits [N, V],
        head-averaged last-layer cross-attention [N, S], updated cache). Fixed shapes."""
        return self._require_decoder().decode_step(enc, enc_mask.astype(bool), tokens, step, cache)


class IsolatedHead(nnx.Module):
    """Isolated recognition (WLASL): LayerNorm, masked mean over time, MLP -> [B, classes]."""

    def __init__(self, cfg: Any, num_classes: int, *, rngs: nnx.Rngs):
        self.ln = layers.layer_norm(cfg.latent_dim, cfg, rngs)
        self.mlp = layers.Mlp(
            cfg.latent_dim, cfg.isolated_hidden, num_classes, cfg, rngs=rngs,
            axes_out=("mlp", "classes"),
        )  # fmt: skip

    def __call__(
        self, latent: jax.Array, frame_mask: jax.Array, *, deterministic: bool
    ) -> jax.Array:
        """latent [B, T, D], frame_mask [B, T] -> logits [B, num_classes] float32."""
        pooled = layers.masked_mean(self.ln(latent), frame_mask.astype(bool))
        return self.mlp(
            pooled.astype(self.ln.dtype or jnp.float32), deterministic=deterministic
        ).astype(jnp.float32)
