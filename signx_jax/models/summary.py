"""Parameter counts and FLOPs per example for the three stages (README "Design").

    python -m signx_jax.models summary --stage all --size base
    python -m signx_jax.models summary --stage cslr --size ladder3 --variant vac_baseline
    python -m signx_jax.models summary --config configs/phoenix2014t_cslr.py:base,no_pruning

(``python -m signx_jax.models.summary ...`` is the same.) ``--config`` takes a
stage config file (``path[:arg]``) and tabulates
its ``model``.

Models are built with ``nnx.eval_shape`` (no memory for the weights); FLOPs
come from XLA's cost analysis of each part's jitted forward, lowered on
``jax.ShapeDtypeStruct`` inputs of one example (batch 1, ``--frames`` frames,
``--tokens`` decoder tokens). Each row is one top-level part of a stage; the
"total" row lowers the whole stage forward (eval mode). XLA counts a loop body
once, so the BiLSTM's recurrent matmuls for the remaining T' - 1 steps are
added by hand (``lstm_loop_flops``) to its row and to the total; ``train_step_flops``
counts a compiled train step the same way (the benchmarks, the scaling sweep).
"""

from __future__ import annotations

import argparse
import runpy
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from configs import models as model_configs
from signx_jax.models.cslr import CSLR
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.models.video2pose import Video2Pose
from signx_jax.schema import POSE_DIM, STREAMS

STAGES = ("pose2gloss", "video2pose", "cslr")


def count_params(module_or_state: Any) -> int:
    """Number of scalars in the nnx.Param variables (works on eval_shape models)."""
    state = module_or_state
    if isinstance(module_or_state, nnx.Module):
        state = nnx.state(module_or_state, nnx.Param)
    return int(sum(np.prod(np.shape(x)) for x in jax.tree.leaves(state)))


def lowered_flops(module: nnx.Module, fn: Callable[..., Any], *args: Any) -> float:
    """XLA cost-analysis FLOPs of ``fn(module, *args)``; args may be ShapeDtypeStructs."""
    graphdef, state = nnx.split(module)

    def pure(state, *args):
        return fn(nnx.merge(graphdef, state), *args)

    cost = jax.jit(pure).lower(state, *args).cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", float("nan")))


def _spec(shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, jnp.dtype(dtype))


Row = tuple[str, Any, Callable[..., Any] | None, tuple[Any, ...]]


def _pose2gloss_rows(cfg: Any, vocab: int, t: int, n_tok: int) -> tuple[nnx.Module, list[Row]]:
    model = nnx.eval_shape(lambda: Pose2Gloss(cfg, vocab, rngs=nnx.Rngs(0)))
    poses, pres = _spec((1, t, POSE_DIM)), _spec((1, t, len(STREAMS)), bool)
    mask, z = _spec((1, t), bool), _spec((1, t, cfg.latent_dim))
    tok = _spec((1, n_tok), jnp.int32)
    rows: list[Row] = [
        ("fusion (E_i, stream attention, PadMatch)", model.fusion,
         lambda m, p, s: m.fusion(p, s, deterministic=True), (poses, pres)),
        ("vit (latent encoder)", model.vit,
         lambda m, x, k: m.vit(x, k, deterministic=True), (z, mask)),
        ("decoder (CodeBook)", model.decoder,
         lambda m, x, k, y: m.decode(x, k, y, deterministic=True), (z, mask, tok)),
        ("contrastive projections", (model.latent_proj, model.text_proj), None, ()),
        ("total", model, lambda m, p, s, k, y: m(p, s, k, y, deterministic=True),
         (poses, pres, mask, tok)),
    ]  # fmt: skip
    return model, rows


def _video2pose_rows(cfg: Any, t: int) -> tuple[nnx.Module, list[Row]]:
    model = nnx.eval_shape(lambda: Video2Pose(cfg, rngs=nnx.Rngs(0)))
    rgb = _spec((1, t, cfg.image_size, cfg.image_size, 3), jnp.uint8)
    mask = _spec((1, t), bool)
    pos = (model.pos_embedding,) if model.posemb == "learn" else ()  # sincos2d: no params
    rows: list[Row] = [
        ("spatial ViT (patches, cls, pos)",
         (model.stem, model.patch_embed, model.cls, *pos, model.spatial),
         lambda m, x: m.frame_features(x, deterministic=True), (rgb,)),
        ("temporal attention", model.temporal,
         lambda m, x, k: m.temporal(x, k, deterministic=True), (_spec((1, t, cfg.width)), mask)),
        ("stream heads", model.heads, None, ()),
        ("total", model, lambda m, x, k: m(x, k, deterministic=True), (rgb, mask)),
    ]  # fmt: skip
    return model, rows


def lstm_loop_flops(cfg: Any, t_out: int) -> float:
    """Recurrent h @ W_hh FLOPs of the scan steps XLA's cost analysis does not repeat."""
    per_step = 2 * cfg.lstm_hidden * 4 * cfg.lstm_hidden  # one direction, one layer
    return float(max(t_out - 1, 0) * per_step * 2 * cfg.lstm_layers)


def train_step_flops(trainer: Any, batch: dict[str, Any]) -> float:
    """FLOPs of one compiled train step: XLA's cost analysis plus, for CSLR, the BiLSTM
    scan steps it counts once (x3 for forward + backward)."""
    cost = trainer.lower_train_step(batch).cost_analysis()
    flops = float((cost[0] if isinstance(cost, list | tuple) else cost)["flops"])
    model = trainer.model()
    if (trainer.cfg.stage == "cslr" and hasattr(model, "output_lengths")  # not isolated
            and trainer.cfg.model.get("use_conv_lstm", True)):  # fmt: skip
        b, t = batch["frame_mask"].shape
        t_out = int(model.output_lengths(jnp.array([t]))[0])
        flops += 3.0 * b * lstm_loop_flops(trainer.cfg.model, t_out)
    return flops


def _cslr_rows(cfg: Any, vocab: int, t: int, n_tok: int) -> tuple[nnx.Module, list[Row]]:
    model = nnx.eval_shape(lambda: CSLR(cfg, vocab, rngs=nnx.Rngs(0)))
    z, mask = _spec((1, t, cfg.latent_dim)), _spec((1, t), bool)
    lengths = _spec((1,), jnp.int32)
    t_out = int(model.output_lengths(jnp.array([t]))[0])
    enc_w = model.enc_width
    tok = _spec((1, n_tok), jnp.int32)
    ev = dict(deterministic=True)
    rows: list[Row] = [
        ("feature compilation", model.compiler,
         lambda m, x, k: m.compiler(x, k, **ev), (z, mask)),
        ("student MLP", model.student, lambda m, x: m.student(x, **ev), (z,)),
        ("teacher ResNet-34", model.teacher, lambda m, x, k: m.teacher(x, k, **ev), (z, mask)),
        ("TemporalConv", model.conv, lambda m, x, n: m.conv(x, n, **ev), (z, lengths)),
        ("BiLSTM", model.bilstm, lambda m, x, n: m.bilstm(x, n),  # + loop correction
         (_spec((1, t_out, cfg.temporal_width)), lengths)),
        ("transformer encoder (+proj)", (model.enc_proj, model.encoder),
         lambda m, x, k: m.encoder(m.enc_proj(x), k, **ev),
         (_spec((1, t_out, 2 * cfg.lstm_hidden)), _spec((1, t_out), bool))),
        ("CTC head", model.ctc_head, lambda m, x: m.ctc_head(x), (_spec((1, t_out, enc_w)),)),
        ("transformer decoder", model.decoder,
         lambda m, y, e, k: m.decoder(y, e, k, **ev),
         (tok, _spec((1, t_out, enc_w)), _spec((1, t_out), bool))),
        ("total", model,
         lambda m, x, k, y: {a: b for a, b in m(x, k, None, y, **ev).items() if b is not None},
         (z, mask, tok)),
    ]  # fmt: skip
    return model, rows


def load_config(spec: str) -> Any:
    """``path/to/config.py[:arg]`` -> its ``get_config(arg)`` (``get_config()`` without arg)."""
    path, sep, arg = spec.partition(":")
    get_config = runpy.run_path(path)["get_config"]
    return get_config(arg) if sep else get_config()


def stage_table(
    stage: str, size: str = "base", *, variant: str = "signx", frames: int = 64,
    tokens: int = 16, vocab: int | None = None, cfg: Any = None,
) -> list[tuple[str, int, float]]:  # fmt: skip
    """[(part, params, FLOPs per example)] for one stage; absent parts are skipped.

    The model is the ``size`` / ``variant`` preset of configs/models.py, or ``cfg``
    (a stage's model config, e.g. a training config's ``model``) when given.
    """
    loop_flops = 0.0
    if stage == "pose2gloss":
        cfg = cfg or model_configs.pose2gloss_config(size)
        model, rows = _pose2gloss_rows(cfg, vocab or cfg.summary_vocab_size, frames, tokens)
    elif stage == "video2pose":
        cfg = cfg or model_configs.video2pose_config(size)
        model, rows = _video2pose_rows(cfg, min(frames, 16))
    elif stage == "cslr":
        cfg = cfg or model_configs.cslr_config(size, variant)
        model, rows = _cslr_rows(cfg, vocab or cfg.summary_vocab_size, frames, tokens)
        loop_flops = lstm_loop_flops(cfg, int(model.output_lengths(jnp.array([frames]))[0]))
    else:
        raise ValueError(f"summary: unknown stage {stage!r}; one of {STAGES}")
    out = []
    for name, parts, fn, args in rows:
        parts = parts if isinstance(parts, tuple) else (parts,)
        if any(p is None for p in parts):
            continue
        params = sum(
            count_params(p) if isinstance(p, nnx.Module) else int(np.prod(p.shape)) for p in parts
        )
        flops = lowered_flops(model, fn, *args) if fn is not None else float("nan")
        if name in ("BiLSTM", "total"):
            flops += loop_flops
        out.append((name, params, flops))
    return out


def format_table(stage: str, label: str, rows: list[tuple[str, int, float]]) -> str:
    lines = [f"== {stage} ({label}) ==", f"{'part':<42}{'params':>16}{'GFLOPs/example':>18}"]
    for name, params, flops in rows:
        gflops = "-" if np.isnan(flops) else f"{flops / 1e9:.3f}"
        lines.append(f"{name:<42}{params:>16,}{gflops:>18}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m signx_jax.models summary", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", help="stage config file[:arg]; replaces --stage/--size")
    parser.add_argument("--stage", default="all", choices=(*STAGES, "all"))
    parser.add_argument("--size", default="base")
    parser.add_argument("--variant", default="signx", choices=model_configs.CSLR_VARIANTS)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = dict(frames=args.frames, tokens=args.tokens, vocab=args.vocab)
    if args.config:
        cfg = load_config(args.config)
        rows = stage_table(cfg.stage, cfg=cfg.model, **sizes)
        print(format_table(cfg.stage, args.config, rows), end="\n\n")
        return
    for stage in STAGES if args.stage == "all" else (args.stage,):
        rows = stage_table(stage, args.size, variant=args.variant, **sizes)
        print(format_table(stage, args.size, rows), end="\n\n")


if __name__ == "__main__":
    main()
