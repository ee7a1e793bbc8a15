"""The paper's experiments as commands, over seeds, on any dataset's recipe.

  python -m signx_jax.paper figure4 --config configs/demo.py --workdir runs/paper
  python -m signx_jax.paper table9 --config configs/demo.py --workdir runs/paper
  python -m signx_jax.paper figure6 --config configs/demo.py --workdir runs/paper
  python -m signx_jax.paper all --config configs/demo.py --workdir runs/paper --seeds 0,1,2

Every experiment starts from one main job of ``--config`` in ``<workdir>/base``
(``signx_jax/main.py``, resumed or skipped when finished) and reuses its steps:

  figure4  paper Figure 4 (a)-(d): stage 3 with one component off
           (``configs/models.py`` CSLR_VARIANTS, plus ``no_augmentation``: no latent
           views), each trained ``--stage3_steps`` updates (the paper's "1k step
           model configurations") on the base run's latent cache, per seed;
  table9   paper Table 9: one stream's output zeroed at the trained Video2Pose (video
           route) or absent from the input poses (pose route, stage 1 only), the
           latent cache rebuilt for that corruption, and the released CSLR fine-tuned
           ``--finetune_steps`` updates on it (paper: 1,000); the reference row
           ("none") fine-tunes the same way on the clean cache, so the deltas are the
           stream's alone. (``configs/<dataset>_pose2gloss.py:base,no_<stream>`` is
           another experiment: stage 1 *trained* without the stream.)
  figure6  paper Figure 6: stage 1's contrastive temperature (``--temperatures``),
           each a new stage 1 + pose-route cache + stage 3 (``--stage3_steps``).

Each writes ``<workdir>/<experiment>.json`` (per-seed values, mean, sd, worst),
``<experiment>.md`` (the table) and ``<experiment>.png`` (the figure), and prints
the table. WER is each route's test WER with the decoder chosen on dev (README
"Decoding and evaluation"). Finished runs are not rerun: a killed command resumes.
XLA's compilation cache (``<workdir>/xla_cache``) lets the seeds of one variant
share their compiles.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time

import numpy as np
from absl import flags

from configs.common import cslr_variant
from configs.models import CSLR_VARIANTS
from signx_jax import atomic, cli, main, seeds

EXPERIMENTS = ("figure4", "table9", "figure6")
VARIANTS = (*CSLR_VARIANTS, "no_augmentation")  # no_augmentation: no latent views
SPLITS = ("dev", "test")
_FLAGS = {}


def _define_flags() -> None:
    _FLAGS["config"] = cli.define_config("configs/demo.py", "Pipeline config (the main job's).")
    define = flags.DEFINE_list
    _FLAGS["workdir"] = flags.DEFINE_string("workdir", "runs/paper", "Where everything goes.")
    _FLAGS["seeds"] = define("seeds", ["0", "1", "2"], "Training seeds of each setting.")
    _FLAGS["variants"] = define("variants", list(VARIANTS), "figure4: the stage-3 variants.")
    _FLAGS["streams"] = define("streams", None, "table9: the streams (default: all five).")
    _FLAGS["temperatures"] = define("temperatures", ["0.1", "0.3", "0.5", "0.7"], "figure6.")
    _FLAGS["stage3_steps"] = flags.DEFINE_integer("stage3_steps", 1000, "figure4/6 updates.")
    _FLAGS["finetune_steps"] = flags.DEFINE_integer("finetune_steps", 1000, "table9 updates.")


# -- one setting of one experiment = a main-job run of some of its steps -----------------


DECODERS = ("dev-chosen", "joint", "attention", "ctc_beam", "ctc_greedy")  # preferred first


def _scores(report_dir: str) -> dict:
    """{route: {split: {wer, bleu4}}} from a report's metrics.json, of the decoder
    chosen on dev (else the configured one, else CTC greedy)."""
    with open(os.path.join(report_dir, "metrics.json")) as f:
        rows = json.load(f)["metrics"]
    out = {}
    for name in rows:
        route, split, _ = (part.strip() for part in name.split("/"))
        decoder = next(d for d in DECODERS if f"{route} / {split} / {d}" in rows)
        metrics = rows[f"{route} / {split} / {decoder}"]
        out.setdefault(route, {})[split] = {"wer": metrics["wer"], "bleu4": metrics["bleu4"]}
    return out


def _run(cfg, workdir: str, steps, name: str, **kwargs) -> dict:
    """``main.run`` unless its report exists; returns {scores, wall_s}."""
    report_dir = os.path.join(workdir, f"report_{name}" if name else "report")
    done = os.path.join(report_dir, "wall.json")
    if not os.path.exists(done):
        t0 = time.perf_counter()
        main.run(cfg, workdir, steps, stage3_name=name, **kwargs)
        atomic.write_json(done, {"wall_s": time.perf_counter() - t0})
    with open(done) as f:
        wall = json.load(f)["wall_s"]
    return {"scores": _scores(report_dir), "wall_s": wall}


def base_run(cfg, root: str) -> str:
    """The main job of ``cfg`` in ``<root>/base`` (every step; resumed, or skipped
    once its report exists)."""
    workdir = os.path.join(root, "base")
    if not os.path.exists(os.path.join(workdir, "report", "metrics.json")):
        main.run(cfg, workdir, main.STEPS)
    return workdir


def _stage3(cfg, seed: int, steps: int | None = None, variant: str = "signx"):
    """A copy of the pipeline config with stage 3 as ``variant``, seed ``seed`` and
    ``steps`` updates (None: the recipe's)."""
    cfg = copy.deepcopy(cfg)
    s3 = cslr_variant(cfg.stage3, "signx" if variant == "no_augmentation" else variant)
    if variant == "no_augmentation":
        s3.data.num_views = 0
    s3.seed = seed
    if steps is not None:
        s3.train.total_steps = steps
        s3.train.eval_every = s3.train.checkpoint_every = max(1, min(s3.train.eval_every, steps))
        s3.train.log_every = max(1, min(s3.train.log_every, steps // 10))
    cfg.stage3 = s3
    return cfg


def figure4(cfg, root: str, seeds_: list[int], variants, steps: int) -> dict:
    base = base_run(cfg, root)
    return {
        variant: {
            seed: _run(
                _stage3(cfg, seed, steps, variant),
                base,
                ("stage3", "evaluate"),
                f"figure4_{variant}_seed{seed}",
            )  # fmt: skip
            for seed in seeds_
        }
        for variant in variants
    }


def table9(cfg, root: str, seeds_: list[int], streams, steps: int) -> dict:
    base = base_run(cfg, root)
    released = (os.path.join(base, "stage3"), int(cfg.keep_best))
    out = {}
    for stream in [None, *streams]:
        label = stream or "none"
        latents = f"latents_zero_{stream}" if stream else "latents"
        out[label] = {}
        for seed in seeds_:
            run_cfg = _stage3(cfg, seed, steps)
            run_cfg.stage3.pruning.start = steps + 1  # the released prune mask, kept
            out[label][seed] = _run(
                run_cfg, base, ("latents", "stage3", "evaluate"), f"table9_{label}_seed{seed}",
                latents=latents, zero=stream, init_from=released,
            )  # fmt: skip
    return out


def figure6(cfg, root: str, seeds_: list[int], temperatures, steps: int) -> dict:
    base = base_run(cfg, root)
    out = {}
    for temperature in temperatures:
        out[f"{temperature:g}"] = {}
        for seed in seeds_:
            workdir = os.path.join(root, "figure6", f"t{temperature:g}_seed{seed}")
            seeds.link_corpus(os.path.join(base, "data"), os.path.join(workdir, "data"))
            run_cfg = _stage3(cfg, seed, steps)
            run_cfg.stage1.seed = seed
            run_cfg.stage1.loss.temperature = float(temperature)
            run_cfg.routes = ("pose",)  # the latent space itself; no Video2Pose
            steps_ = ("data", "stage1", "latents", "stage3", "evaluate")
            out[f"{temperature:g}"][seed] = _run(run_cfg, workdir, steps_, "figure6")
    return out


# -- tables and figures ---------------------------------------------------------------


def summarize(results: dict) -> dict:
    """{setting: {seed: run}} -> {setting: {route: {split: {metric: stats}}}, with
    stats = mean, sd (sample), worst (max WER / min BLEU) and the per-seed values."""
    out = {}
    for setting, per_seed in results.items():
        runs = list(per_seed.values())
        out[setting] = {"wall_s": float(np.mean([r["wall_s"] for r in runs]))}
        for route in runs[0]["scores"]:
            for split in SPLITS:
                for metric in ("wer", "bleu4"):
                    values = [r["scores"][route][split][metric] for r in runs]
                    worst = max(values) if metric == "wer" else min(values)
                    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                    out[setting].setdefault(route, {}).setdefault(split, {})[metric] = dict(
                        mean=float(np.mean(values)), sd=sd, worst=worst,
                        per_seed=dict(zip(per_seed, values, strict=True)),
                    )  # fmt: skip
    return out


def format_table(experiment: str, summary: dict) -> str:
    """Markdown: per setting and route, test WER mean +- sd (worst), dev WER mean and,
    for Table 9, the change against the "none" row (absolute and relative)."""
    routes = [r for r in ("video", "pose") if any(r in s for s in summary.values())]
    head = ["setting"]
    for route in routes:
        head += [f"{route} test WER", "worst", f"{route} dev WER"]
        if experiment == "table9":
            head += ["delta", "relative"]
    head.append("wall s / run")
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for setting, stats in summary.items():
        cells = [setting]
        for route in routes:
            if route not in stats:
                cells += ["-"] * (5 if experiment == "table9" else 3)
                continue
            test, dev = stats[route]["test"]["wer"], stats[route]["dev"]["wer"]
            cells += [f"{test['mean']:.2f} ± {test['sd']:.2f}", f"{test['worst']:.2f}",
                      f"{dev['mean']:.2f}"]  # fmt: skip
            if experiment == "table9":
                ref = summary["none"][route]["test"]["wer"]["mean"]
                delta = test["mean"] - ref
                cells += [f"{delta:+.2f}", f"{100 * delta / max(ref, 1e-9):+.1f} %"]
        cells.append(f"{stats['wall_s']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(experiment: str, summary: dict, out: str) -> str:
    """Bars (a line over temperatures for figure6) of test WER, mean with sd."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from signx_jax.plots import _save

    settings = list(summary)
    routes = [r for r in ("video", "pose") if any(r in s for s in summary.values())]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(settings) + 2), 3.2))
    x = np.arange(len(settings))
    for k, route in enumerate(routes):
        mean = [summary[s][route]["test"]["wer"]["mean"] if route in summary[s] else np.nan
                for s in settings]  # fmt: skip
        sd = [summary[s][route]["test"]["wer"]["sd"] if route in summary[s] else 0.0
              for s in settings]  # fmt: skip
        if experiment == "figure6":
            ax.errorbar(x, mean, yerr=sd, marker="o", capsize=3, label=f"{route} route")
        else:
            width = 0.8 / len(routes)
            ax.bar(x + (k - (len(routes) - 1) / 2) * width, mean, width, yerr=sd, capsize=3,
                   label=f"{route} route")  # fmt: skip
    ax.set_xticks(x, settings, rotation=30 if experiment != "figure6" else 0, ha="right")
    ax.set_ylabel("test WER (%)")
    ax.set_xlabel("stage-1 contrastive temperature" if experiment == "figure6" else "")
    ax.set_title({"figure4": "Figure 4: stage-3 components", "table9": "Table 9: one stream zeroed",
                  "figure6": "Figure 6: contrastive temperature"}[experiment])  # fmt: skip
    ax.legend()
    fig.tight_layout()
    return _save(fig, out)


def write(experiment: str, root: str, results: dict, command: str) -> str:
    summary = summarize(results)
    table = format_table(experiment, summary)
    atomic.write_json(os.path.join(root, f"{experiment}.json"),
                      {"command": command, "results": results, "summary": summary})  # fmt: skip
    with open(os.path.join(root, f"{experiment}.md"), "w") as f:
        f.write(f"# {experiment}\n\n{table}\n\nCommand: `{command}`\n")
    plot(experiment, summary, os.path.join(root, f"{experiment}.png"))
    return table


def run(experiments, cfg, root: str, *, seeds_, variants=VARIANTS, streams=None,
        temperatures=(0.1, 0.3, 0.5, 0.7), stage3_steps=1000, finetune_steps=1000,
        command: str = "") -> dict[str, str]:  # fmt: skip
    """Run ``experiments`` of ``cfg`` in ``root``; returns {experiment: Markdown table}."""
    import jax

    from signx_jax.schema import STREAM_NAMES

    problems = main.config_problems(cfg)
    problems += [f"unknown experiment {e!r}; expected {EXPERIMENTS}" for e in experiments
                 if e not in EXPERIMENTS]  # fmt: skip
    problems += [f"--variants: unknown {v!r}; expected {VARIANTS}" for v in variants
                 if v not in VARIANTS]  # fmt: skip
    streams = list(STREAM_NAMES if streams is None else streams)
    problems += [f"--streams: unknown {s!r}; expected {STREAM_NAMES}" for s in streams
                 if s not in STREAM_NAMES]  # fmt: skip
    if problems:
        raise cli.UsageError("; ".join(problems))
    os.makedirs(root, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", os.path.join(root, "xla_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    tables = {}
    for experiment in experiments:
        if experiment == "figure4":
            results = figure4(cfg, root, seeds_, variants, stage3_steps)
        elif experiment == "table9":
            results = table9(cfg, root, seeds_, streams, finetune_steps)
        else:
            results = figure6(cfg, root, seeds_, [float(t) for t in temperatures], stage3_steps)
        tables[experiment] = write(experiment, root, results, command)
        print(f"\n## {experiment}\n\n{tables[experiment]}\n", flush=True)
    return tables


def paper_main(argv) -> None:
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)
    if len(argv) != 2 or argv[1] not in (*EXPERIMENTS, "all"):
        raise cli.UsageError(f"name one experiment: {' | '.join((*EXPERIMENTS, 'all'))}")
    experiments = EXPERIMENTS if argv[1] == "all" else (argv[1],)
    f = {k: v.value for k, v in _FLAGS.items()}
    seeds_ = [int(s) for s in f["seeds"]]
    if not seeds_ or len(set(seeds_)) != len(seeds_):
        raise cli.UsageError(f"--seeds={','.join(f['seeds'])}: distinct integers, e.g. 0,1,2")
    run(experiments, f["config"], os.path.abspath(f["workdir"]), seeds_=seeds_,
        variants=f["variants"], streams=f["streams"], temperatures=f["temperatures"],
        stage3_steps=f["stage3_steps"], finetune_steps=f["finetune_steps"],
        command="python -m signx_jax.paper " + " ".join(sys.argv[1:]))  # fmt: skip


if __name__ == "__main__":
    cli.run(paper_main, _define_flags)
