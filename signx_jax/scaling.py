"""Scaling experiments: model size x data size x compute, with power-law fits.

Results and commands: README "Benchmarks and scaling".

Trains the CSLR stage (``CSLRTask`` through the real ``Trainer``, batches from the
input pipeline, dev scored by the main job's evaluation) on an in-memory synthetic
latent corpus whose difficulty is fixed by the config: a
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

from signx_jax import cli, schema
from signx_jax.data import pipeline
from signx_jax.data.vocab import Vocabulary
from signx_jax.evaluate import run_eval
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


# -- synthetic latent corpus ------------------------------------------------------


def vocabulary(cfg: ml_collections.ConfigDict) -> Vocabulary:
    """The corpus's glosses ``G0`` .. ``G{num_glosses - 1}`` after the special tokens."""
    return Vocabulary([*schema.SPECIAL_TOKENS, *(f"G{k}" for k in range(cfg.num_glosses))])


def make_corpus(cfg: ml_collections.ConfigDict, num_sentences: int, seed: int) -> list[dict]:
    """Sentences of glosses rendered as latent frames (at most ``cfg.frames`` each):
    latent-cache records (``latent``, ``gloss`` text, ``clip_id``) that the input
    pipeline reads as it reads the cache."""
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(cfg.corpus_seed).normal(size=(cfg.num_glosses, cfg.latent_dim))
    lo, hi = cfg.frames_per_gloss
    records = []
    for i in range(num_sentences):
        n = int(rng.integers(cfg.min_glosses, cfg.max_label_len + 1))
        glosses = rng.integers(0, cfg.num_glosses, n)
        durations = np.minimum(rng.integers(lo, hi + 1, n), max(cfg.frames // n, 1))
        frames = np.repeat(protos[glosses], durations, axis=0)
        drift = np.cumsum(rng.normal(scale=cfg.drift, size=frames.shape), axis=0)
        frames = frames + drift + rng.normal(scale=cfg.noise, size=frames.shape)
        gloss = " ".join(f"G{g}" for g in glosses)
        records.append({"clip_id": f"s{seed}-{i}", "latent": frames.astype(np.float32),
                        "gloss": gloss})  # fmt: skip
    return records


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
    c.data.batch_size = c.data.eval_batch_size = sweep.batch_size
    c.data.buckets = (sweep.frames,)
    c.data.max_label_len = sweep.max_label_len
    c.optim.update(name="adam", schedule="constant", lr=sweep.lr, grad_accum_steps=1, clip_norm=1.0)
    c.train.total_steps = max(sweep.steps)
    c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1))
    c.seed = sweep.seed
    return c


def evaluate(trainer: Trainer, dev: list[dict], vocab: Vocabulary) -> tuple[float, float]:
    """Dev CTC loss per sentence, and dev WER (%) of CTC greedy decoding: the eval
    step and the WER of the main job's evaluation (``signx_jax.evaluate``)."""
    outputs = run_eval(trainer, dev, vocab)
    wer = trainer.task.summarize_eval(outputs, vocab, source=dev, dataset="none")["wer"]
    total = 0.0
    for out in outputs:
        enc_mask = np.arange(out["ctc_logits"].shape[1])[None] < out["out_lengths"][:, None]
        label_mask = np.arange(out["labels"].shape[1])[None] < out["label_lengths"][:, None]
        per = losses.ctc(out["ctc_logits"], enc_mask, out["labels"], label_mask, schema.BLANK_ID)
        total += float(np.sum(np.asarray(per) * out["valid"]))
    return total / len(dev), wer


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
    vocab = vocabulary(sweep)
    trainer = Trainer(cfg, CSLRTask(cfg, len(vocab)))
    trainer.set_decode_method("ctc_greedy")
    init = jax.tree.map(jnp.copy, trainer.state)  # the step donates the state
    params = count_params(trainer.state.params)

    def batches(source):
        return pipeline.make_train_iterator(
            source, vocab, batch_size=cfg.data.batch_size, buckets=cfg.data.buckets,
            seed=sweep.seed, features=trainer.task.features, max_label_len=sweep.max_label_len,
        )  # fmt: skip

    probe = next(batches(dev))
    flops = train_step_flops(trainer, probe)
    trainer.train_step(probe)  # compile outside the timed steps
    evaluate(trainer, dev, vocab)
    points = []
    for size, corpus in corpora.items():
        trainer.state = jax.tree.map(jnp.copy, init)
        seconds, recent, it = 0.0, [], batches(corpus)
        for step in range(1, max(sweep.steps) + 1):
            batch = next(it)
            t0 = time.perf_counter()
            loss = float(trainer.train_step(batch)["loss"])
            seconds += time.perf_counter() - t0
            recent = (recent + [loss])[-10:]
            if step in sweep.steps:
                dev_loss, wer = evaluate(trainer, dev, vocab)
                p = Point(width, params, size, step, flops * step, float(np.mean(recent)),
                          dev_loss, wer, seconds)  # fmt: skip
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
