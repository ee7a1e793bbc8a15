"""Scaling experiments: model size x data size x compute, with power-law fits.

Results and commands: README "Benchmarks and scaling".

Trains the CSLR stage (``CSLRTask`` through the real ``Trainer``) on an
in-memory synthetic latent corpus whose difficulty is fixed by the config: a
vocabulary of gloss prototypes in the latent space, sentences of a few
glosses, each gloss lasting a random number of frames of its prototype plus
Gaussian noise and a slow random drift. For every (model size, train-set
size) it trains once with a constant learning rate and evaluates the dev set
at each step milestone, so one run gives one point per compute budget.
Compute is XLA's cost analysis of the compiled train step times the steps
(the BiLSTM scan body is counted once by XLA; the missing recurrent matmuls
are added, x3 for forward + backward).

Writes to ``--out`` (default ``signx_jax/benchmarks/results``):
``scaling.json`` (every point), ``scaling.md`` (table and fits) and
``scaling.png`` (dev loss vs compute per size with the fitted frontier
``L(C) = a * C^-b + c``; dev WER vs compute; final dev loss vs parameters)::

    python -m signx_jax.scaling --config configs/ladder.py:scaling
    python -m signx_jax.scaling --config configs/ladder.py:scaling \
        --config.steps='(25,50)' --config.sizes='(32,64)'   # a quick look
    python -m signx_jax.scaling --replot   # refit + redraw from scaling.json
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import flags
from flax import nnx

from signx_jax import cli, schema
from signx_jax import metrics as metrics_lib
from signx_jax.decoding import ctc_greedy
from signx_jax.models.summary import count_params, train_step_flops
from signx_jax.train import losses
from signx_jax.train.loop import Trainer
from signx_jax.train.tasks import CSLRTask


def _define_flags() -> dict:
    """Command-line flags, defined only when run as a program: importing this
    module (tests, notebooks) must not claim absl's global flag names."""
    return {
        "config": cli.define_config("configs/ladder.py:scaling", "Sweep config."),
        "out": flags.DEFINE_string("out", "signx_jax/benchmarks/results", "Output directory."),
        "replot": flags.DEFINE_bool("replot", False, "Refit and redraw from --out/scaling.json."),
    }


_FLAGS: dict = {}

NUM_SPECIAL = len(schema.SPECIAL_TOKENS)


# -- synthetic latent corpus ------------------------------------------------------


def make_corpus(
    cfg: ml_collections.ConfigDict, num_sentences: int, seed: int
) -> dict[str, np.ndarray]:
    """Sentences of glosses rendered as latent frames; arrays padded to cfg.frames."""
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(cfg.corpus_seed).normal(size=(cfg.num_glosses, cfg.latent_dim))
    t_max, n_lab = cfg.frames, cfg.max_label_len
    out = {
        "latent": np.zeros((num_sentences, t_max, cfg.latent_dim), np.float32),
        "frame_mask": np.zeros((num_sentences, t_max), bool),
        "labels": np.full((num_sentences, n_lab), schema.PAD_ID, np.int32),
        "label_lengths": np.zeros(num_sentences, np.int32),
    }
    lo, hi = cfg.frames_per_gloss
    for i in range(num_sentences):
        n = int(rng.integers(cfg.min_glosses, n_lab + 1))
        glosses = rng.integers(0, cfg.num_glosses, n)
        durations = rng.integers(lo, hi + 1, n)
        durations = np.minimum(durations, max(t_max // n, 1))
        frames = np.repeat(protos[glosses], durations, axis=0)
        drift = np.cumsum(rng.normal(scale=cfg.drift, size=frames.shape), axis=0)
        frames = frames + drift + rng.normal(scale=cfg.noise, size=frames.shape)
        t = len(frames)
        out["latent"][i, :t] = frames
        out["frame_mask"][i, :t] = True
        out["labels"][i, :n] = glosses + NUM_SPECIAL
        out["label_lengths"][i] = n
    return out


def _batch(corpus: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    b = {k: v[idx] for k, v in corpus.items()}
    b["lengths"] = b["frame_mask"].sum(1).astype(np.int32)
    b["gloss_spans"] = np.full((*b["labels"].shape, 2), -1, np.int32)
    b["valid"] = np.ones(len(idx), bool)
    b["index"] = idx.astype(np.int32)
    b["cropped"] = np.zeros(len(idx), bool)
    return b


# -- one run ------------------------------------------------------------------------


def train_config(sweep: ml_collections.ConfigDict, width: int) -> ml_collections.ConfigDict:
    """The CSLR train config of one model size (``width`` = temporal width)."""
    from configs.common import train_config as base_config

    c = base_config("cslr", "tiny", variant=sweep.variant)
    m = c.model
    m.latent_dim = sweep.latent_dim
    m.temporal_width = m.isolated_hidden = m.student_hidden = width
    m.conv_channels = width if sweep.variant == "vac_baseline" else max(width // 2, 8)
    m.lstm_hidden = max(width // 2, 8)
    m.width, m.mlp = width, 4 * width
    m.heads = max(min(width // 32, 8), 1)
    c.pruning.enabled = False
    c.data.batch_size = sweep.batch_size
    c.data.max_label_len = sweep.max_label_len
    c.optim.update(name="adam", schedule="constant", lr=sweep.lr, grad_accum_steps=1, clip_norm=1.0)
    c.train.total_steps = max(sweep.steps)
    c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1))
    c.seed = sweep.seed
    return c


def _dev_eval_fn(trainer: Trainer):
    graphdef = trainer.graphdef

    @jax.jit
    def run(state, batch):
        model = nnx.merge(graphdef, state.params, state.rest, copy=True)
        out = model(
            batch["latent"], batch["frame_mask"], state.aux["prune_mask"], None, deterministic=True
        )
        label_mask = jnp.arange(batch["labels"].shape[1])[None] < batch["label_lengths"][:, None]
        per = losses.ctc(
            out["ctc_logits"], out["enc_mask"], batch["labels"], label_mask, schema.BLANK_ID
        )
        hyp, _ = ctc_greedy(out["ctc_logits"], out["out_lengths"], blank=schema.BLANK_ID)
        return per, hyp

    return run


def evaluate(run, state, dev: dict[str, np.ndarray], batch_size: int) -> tuple[float, float]:
    """Dev CTC loss per sentence and WER (%) of greedy CTC decoding."""
    n = len(dev["labels"])
    total, refs, hyps = 0.0, [], []
    for start in range(0, n - batch_size + 1, batch_size):
        b = _batch(dev, np.arange(start, start + batch_size))
        per, hyp = jax.device_get(run(state, b))
        total += float(np.sum(per))
        for lab, k, h in zip(b["labels"], b["label_lengths"], hyp, strict=True):
            refs.append([str(x) for x in lab[:k]])
            hyps.append([str(x) for x in h if x >= 0])
    count = len(refs)
    return total / count, 100.0 * metrics_lib.wer(refs, hyps).wer


@dataclasses.dataclass
class Point:
    width: int
    params: int
    train_size: int
    steps: int
    flops: float
    train_loss: float
    dev_loss: float
    dev_wer: float
    seconds: float  # training wall time up to this milestone (compile excluded)


def run_size(sweep: ml_collections.ConfigDict, width: int, dev, corpora) -> list[Point]:
    """Every train-set size for one model size; one compile, fresh init each time."""
    cfg = train_config(sweep, width)
    trainer = Trainer(cfg, CSLRTask(cfg, sweep.num_glosses + NUM_SPECIAL))
    init = jax.tree.map(jnp.copy, trainer.state)  # the step donates the state
    params = count_params(trainer.state.params)
    probe = _batch(dev, np.arange(sweep.batch_size))
    flops = train_step_flops(trainer, probe)
    run = _dev_eval_fn(trainer)
    trainer.train_step(probe)  # compile outside the timed steps
    evaluate(run, trainer.state, dev, sweep.batch_size)
    points = []
    for size, corpus in corpora.items():
        trainer.state = jax.tree.map(jnp.copy, init)
        rng = np.random.default_rng(sweep.seed)
        seconds, recent = 0.0, []
        for step in range(1, max(sweep.steps) + 1):
            idx = rng.choice(size, sweep.batch_size, replace=size < sweep.batch_size)
            b = _batch(corpus, idx)
            t0 = time.perf_counter()
            loss = float(trainer.train_step(b)["loss"])
            seconds += time.perf_counter() - t0
            recent = (recent + [loss])[-10:]
            if step in sweep.steps:
                dev_loss, wer = evaluate(run, trainer.state, dev, sweep.batch_size)
                p = Point(
                    width,
                    params,
                    size,
                    step,
                    flops * step,
                    float(np.mean(recent)),
                    dev_loss,
                    wer,
                    seconds,
                )
                print(f"[scaling] {p}", flush=True)
                points.append(p)
    return points


# -- fits and plots -----------------------------------------------------------------


def fit_power_law(compute: np.ndarray, loss: np.ndarray) -> dict[str, float]:
    """L = a * C^-b + c by least squares (scipy), falling back to a log-log line (c = 0)."""
    compute, loss = np.asarray(compute, float), np.asarray(loss, float)
    slope, intercept = np.polyfit(np.log(compute), np.log(loss), 1)
    line = {"a": float(math.exp(intercept)), "b": float(-slope), "c": 0.0, "kind": "loglog"}
    if len(compute) < 4:
        return line
    try:
        from scipy.optimize import curve_fit

        # Relative (log) residuals, C scaled to start at 1, an irreducible loss c
        # in [0, min L): unconstrained fits drift to b ~ 0 with a huge negative c.
        c0 = compute.min()

        def log_law(x, a, b, c):
            return np.log(a * (x / c0) ** (-b) + c)

        bounds = ([1e-12, 1e-4, 0.0], [np.inf, 3.0, 0.999 * loss.min()])
        p0 = (loss.max(), 0.3, 0.5 * loss.min())
        (a, b, c), _ = curve_fit(log_law, compute, np.log(loss), p0=p0, bounds=bounds)
        if np.all(np.isfinite((a, b, c))):
            return {"a": float(a * c0**b), "b": float(b), "c": float(c), "kind": "a*C^-b+c"}
    except (RuntimeError, ValueError):
        pass
    return line


def frontier(points: list[Point]) -> tuple[np.ndarray, np.ndarray]:
    """The lower envelope of dev loss over compute (best model at each budget)."""
    order = sorted(points, key=lambda p: p.flops)
    xs, ys, best = [], [], math.inf
    for p in order:
        if p.dev_loss < best:
            best = p.dev_loss
            xs.append(p.flops)
            ys.append(p.dev_loss)
    return np.asarray(xs), np.asarray(ys)


def write_outputs(points: list[Point], sweep, out_dir: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    data_sizes = sorted({p.train_size for p in points})
    widths = sorted({p.width for p in points})
    fits = {}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(widths)))
    for d_i, size in enumerate(data_sizes):
        style = ["-", "--", ":", "-."][d_i % 4]
        sub = [p for p in points if p.train_size == size]
        for color, w in zip(colors, widths, strict=True):
            run = sorted((p for p in sub if p.width == w), key=lambda p: p.steps)
            label = f"{run[0].params / 1e3:.0f}k params, {size} clips"
            for ax, key, lab in ((axes[0], "dev_loss", label), (axes[1], "dev_wer", None)):
                ys = [getattr(p, key) for p in run]
                ax.plot([p.flops for p in run], ys, style, color=color, marker="o", ms=3, label=lab)
        xs, ys = frontier(sub)
        fit = fit_power_law(xs, ys) if len(xs) >= 2 else None
        fits[str(size)] = fit
        if fit:
            grid = np.geomspace(xs.min(), xs.max(), 50)
            law = f"{fit['a']:.3g} C^-{fit['b']:.3f} + {fit['c']:.3g}"
            curve = fit["a"] * grid ** (-fit["b"]) + fit["c"]
            axes[0].plot(grid, curve, style, color="red", lw=2, label=f"fit {size} clips: {law}")
        last = [max((p for p in sub if p.width == w), key=lambda p: p.steps) for w in widths]
        axes[2].plot(
            [p.params for p in last],
            [p.dev_loss for p in last],
            style,
            marker="s",
            label=f"{size} clips",
        )
    xlabels = ("training compute C (FLOPs)",) * 2 + ("parameters",)
    ylabels = ("dev CTC loss", "dev WER %", "dev CTC loss at the last step")
    for ax, xlabel, ylabel in zip(axes, xlabels, ylabels, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=6)
    axes[2].legend(fontsize=7)
    fig.suptitle(f"CSLR ({sweep.variant}) on synthetic latents: model size x data size x steps")
    fig.tight_layout()
    png = os.path.join(out_dir, "scaling.png")
    fig.savefig(png, dpi=120)
    result = {
        "config": sweep.to_dict(),
        "points": [dataclasses.asdict(p) for p in points],
        "fits": fits,
    }
    with open(os.path.join(out_dir, "scaling.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(out_dir, "scaling.md"), "w") as f:
        f.write(markdown_table(points, fits))
    return result


def markdown_table(points: list[Point], fits: dict[str, Any]) -> str:
    lines = [
        "| params | train clips | steps | train FLOPs | train loss | dev loss | dev WER % "
        "| wall s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(points, key=lambda p: (p.train_size, p.params, p.steps)):
        lines.append(
            f"| {p.params:,} | {p.train_size} | {p.steps} | {p.flops:.3g} | {p.train_loss:.3f} "
            f"| {p.dev_loss:.3f} | {p.dev_wer:.1f} | {p.seconds:.1f} |"
        )
    lines.append("")
    for size, fit in fits.items():
        if fit:
            lines.append(
                f"Frontier fit, {size} train clips ({fit['kind']}): "
                f"L(C) = {fit['a']:.4g} * C^-{fit['b']:.4f} + {fit['c']:.4g}"
            )
    return "\n".join(lines) + "\n"


def sweep_all(sweep: ml_collections.ConfigDict, out_dir: str) -> dict[str, Any]:
    dev = make_corpus(sweep, sweep.dev_size, seed=sweep.seed + 1)
    corpora = {
        n: make_corpus(sweep, n, seed=sweep.seed + 2 + i) for i, n in enumerate(sweep.train_sizes)
    }
    points, t0 = [], time.perf_counter()
    for width in sweep.sizes:
        points += run_size(sweep, width, dev, corpora)
    result = write_outputs(points, sweep, out_dir)
    print(markdown_table(points, result["fits"]))
    seconds = time.perf_counter() - t0
    print(f"[scaling] {len(points)} points in {seconds:.0f} s -> {out_dir}/scaling.png")
    return result


def replot(out_dir: str) -> dict[str, Any]:
    """Fits, table and plot again from ``out_dir/scaling.json`` (no training)."""
    with open(os.path.join(out_dir, "scaling.json")) as f:
        saved = json.load(f)
    points = [Point(**p) for p in saved["points"]]
    result = write_outputs(points, ml_collections.ConfigDict(saved["config"]), out_dir)
    print(markdown_table(points, result["fits"]))
    return result


def main(argv) -> None:
    del argv
    if _FLAGS["replot"].value:
        replot(_FLAGS["out"].value)
    else:
        sweep_all(_FLAGS["config"].value, _FLAGS["out"].value)


if __name__ == "__main__":
    cli.run(main, lambda: _FLAGS.update(_define_flags()))
