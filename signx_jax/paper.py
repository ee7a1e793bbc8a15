"""The paper's experiments as commands, over seeds, on any dataset's recipe.

  python -m signx_jax.paper figure4 --config configs/demo.py --workdir runs/paper
  python -m signx_jax.paper table9 --config configs/demo.py --workdir runs/paper
  python -m signx_jax.paper figure6 --config configs/demo.py --workdir runs/paper
  python -m signx_jax.paper table8 --config configs/demo.py --workdir runs/paper --stage3_steps 800
  python -m signx_jax.paper all --config configs/demo.py --workdir runs/paper --seeds 0,1,2
  python -m signx_jax.paper figure4,table9 ...           # a list: in that order

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
           each a new stage 1 + pose-route cache + stage 3 (``--stage3_steps``);
  table8   paper Table 8: CSLR in the latent space (the deployed video route: RGB ->
           Video2Pose -> frozen stage 1 -> CSLR) against the same CSLR in pixel space
           (``pixel_cnn``: a ResNet-18-style CNN per frame, end to end on RGB) and a
           Transformer + visual encoder (``pixel_vit``: a small ViT per frame + a
           transformer encoder-decoder with CTC), each ``--stage3_steps`` updates on
           the same clips (``configs/models.py`` PIXEL_METHODS); besides WER it
           measures training clips/s and wall time (stages 1-2 and the latent cache
           count against SignX), inference frames/s from RGB, FLOPs per clip (XLA's
           cost analysis), parameters, peak XLA buffer memory and CPU-seconds per clip.

Each writes ``<workdir>/<experiment>.json`` (per-seed values, mean, sd, worst),
``<experiment>.md`` (the table) and ``<experiment>.png`` (the figure), and prints
the table. WER is each route's test WER with the decoder chosen on dev (README
"Decoding and evaluation"). Finished runs are not rerun: a killed command resumes.
XLA's compilation cache (``<workdir>/xla_cache``, or ``$JAX_COMPILATION_CACHE_DIR``
when set) lets the seeds of one variant share their compiles.
"""

from __future__ import annotations

import copy
import logging
import os
import time

import numpy as np
from absl import flags

from configs.common import cslr_variant
from configs.models import CSLR_VARIANTS, PIXEL_METHODS, apply_frame_encoder
from signx_jax import atomic, cli, main, seeds

EXPERIMENTS = ("figure4", "table9", "figure6", "table8")
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
    _FLAGS["stage3_steps"] = flags.DEFINE_integer("stage3_steps", 1000, "figure4/6, table8.")
    _FLAGS["finetune_steps"] = flags.DEFINE_integer("finetune_steps", 1000, "table9 updates.")


# -- one setting of one experiment = a main-job run of some of its steps -----------------


DECODERS = ("dev-chosen", "joint", "attention", "ctc_beam", "ctc_greedy")  # preferred first


def _scores(report_dir: str) -> dict:
    """{route: {split: {wer, bleu4}}} from a report's metrics.json, of the decoder
    chosen on dev (else the configured one, else CTC greedy)."""
    rows = atomic.read_json(os.path.join(report_dir, "metrics.json"))["metrics"]
    out = {}
    for name in rows:
        route, split, _ = (part.strip() for part in name.split("/"))
        decoder = next(d for d in DECODERS if f"{route} / {split} / {d}" in rows)
        metrics = rows[f"{route} / {split} / {decoder}"]
        out.setdefault(route, {})[split] = {"wer": metrics["wer"], "bleu4": metrics["bleu4"]}
    return out


def _run(cfg, workdir: str, steps, name: str, **kwargs) -> dict:
    """``main.run`` unless its report exists; returns {scores, wall_s, train_s}
    (train_s: the steps before ``evaluate``, compiles and dev checks included)."""
    report_dir = os.path.join(workdir, f"report_{name}" if name else "report")
    done = os.path.join(report_dir, "wall.json")
    if not os.path.exists(done):
        t0 = time.perf_counter()
        main.run(cfg, workdir, [s for s in steps if s != "evaluate"], stage3_name=name, **kwargs)
        train_s = time.perf_counter() - t0
        main.run(cfg, workdir, ("evaluate",), stage3_name=name, **kwargs)
        atomic.write_json(done, {"wall_s": time.perf_counter() - t0, "train_s": train_s})
    return {"scores": _scores(report_dir), **atomic.read_json(done)}


def base_run(cfg, root: str) -> str:
    """The main job of ``cfg`` in ``<root>/base`` (every step; resumed, or skipped
    once its report exists), one step at a time: ``base/timings.json`` holds each
    step's wall seconds (Table 8 charges stages 1-2 and the cache to SignX)."""
    workdir = os.path.join(root, "base")
    if not os.path.exists(os.path.join(workdir, "report", "metrics.json")):
        timings = {}
        for step in main.STEPS:
            t0 = time.perf_counter()
            main.run(cfg, workdir, (step,))
            timings[step] = time.perf_counter() - t0
        atomic.write_json(os.path.join(workdir, "timings.json"), timings)
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


def _pixel(cfg, seed: int, steps: int, method: str):
    """``_stage3`` with the CSLR fed by ``method``'s frame encoder (Table 8)."""
    cfg = _stage3(cfg, seed, steps)
    model = cfg.stage3.model
    apply_frame_encoder(model, method, cfg.stage2.model.image_size, model.get("size", "tiny"))
    return cfg


def table8(cfg, root: str, seeds_: list[int], steps: int) -> tuple[dict, dict]:
    """({method: {seed: run}}, {method: inference cost}) of the latent route and the
    pixel-space methods, each trained ``steps`` updates from scratch (stage 3 only)."""
    base = base_run(cfg, root)
    out, costs = {}, {}
    for method in ("latent", *PIXEL_METHODS):
        out[method] = {}
        for seed in seeds_:
            if method == "latent":
                run_cfg = _stage3(cfg, seed, steps)
            else:
                run_cfg = _pixel(cfg, seed, steps, method)
            # The best dev checkpoint, not the mean of the best k: a short run's few
            # checkpoints (300, 600, 800 updates) would average a half-trained model in
            # (pixel_cnn, 800 updates: dev WER 23.7 at the last one, 46.2 averaged).
            run_cfg.keep_best = 1
            name = f"table8_{method}_seed{seed}"
            out[method][seed] = _run(run_cfg, base, ("stage3", "evaluate"), name)
            if seed == seeds_[0]:
                costs[method] = inference_cost(run_cfg, base, name, method == "latent")
                s3 = run_cfg.stage3
                costs[method]["train_clips"] = (
                    steps * s3.data.batch_size * max(int(s3.optim.grad_accum_steps), 1)
                )
    timings = atomic.read_json(os.path.join(base, "timings.json"))
    costs["latent"]["stages_1_2_s"] = (
        sum(timings[s] for s in ("stage1", "stage2", "latents")) if timings else None
    )
    return out, costs


def inference_cost(cfg, base: str, name: str, latent: bool, reps: int = 3) -> dict:
    """What one released model costs from RGB to glosses (CTC greedy), measured on the
    first test batch: frames/s, CPU-s per clip, GFLOP per clip (XLA cost analysis plus
    the BiLSTM scan steps it counts once), parameters on the path, peak XLA buffers.
    Cached in ``<base>/report_<name>/cost.json``."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from signx_jax.data import pipeline
    from signx_jax.data.vocab import Vocabulary
    from signx_jax.decoding.ctc import ctc_greedy
    from signx_jax.models.summary import count_params, lstm_loop_flops
    from signx_jax.models.video2pose import video_to_latent
    from signx_jax.train.mfu import timed

    path = os.path.join(base, f"report_{name}", "cost.json")
    if (cached := atomic.read_json(path)) is not None:
        return cached
    data_dir = os.path.join(base, "data")
    vocab, data = Vocabulary.load(os.path.join(data_dir, "vocab.json")), main.open_splits(data_dir)
    s3, _, _ = main.run_stage3(cfg, vocab, os.path.join(base, "latents"),
                               os.path.join(base, f"stage3_{name}"), train=False)  # fmt: skip
    modules, params = {"cslr": s3.model()}, {}
    if latent:
        p2g = main.run_stage1(cfg.stage1, data, vocab, os.path.join(base, "stage1"), train=False)
        v2p = main.run_stage2(cfg.stage2, data, vocab, os.path.join(base, "stage2"), None,
                              train=False)  # fmt: skip
        modules.update(video2pose=v2p.model().video2pose, stage1=p2g.model())
        params["video2pose"] = count_params(modules["video2pose"])
        params["stage-1 encoder"] = count_params(modules["stage1"].fusion) + count_params(
            modules["stage1"].vit
        )
    params["cslr"] = count_params(modules["cslr"])
    prune = s3.state.aux["prune_mask"]
    graphdef, state = nnx.split(modules)

    def forward(state, rgb, mask):
        m = nnx.merge(graphdef, state)
        x = video_to_latent(m["video2pose"], m["stage1"], rgb, mask) if latent else rgb
        out = m["cslr"](x, mask, prune, None, deterministic=True)
        return ctc_greedy(jax.nn.log_softmax(out["ctc_logits"]), out["out_lengths"])

    s3cfg = cfg.stage3
    batch = next(iter(pipeline.make_eval_iterator(
        data["test"], vocab, batch_size=s3cfg.data.eval_batch_size, buckets=s3cfg.data.buckets,
        features=("rgb",), max_label_len=s3cfg.data.max_label_len)))  # fmt: skip
    rgb, mask = jnp.asarray(batch["rgb"]), jnp.asarray(batch["frame_mask"])
    compiled = jax.jit(forward).lower(state, rgb, mask).compile()
    jax.block_until_ready(compiled(state, rgb, mask))
    wall, cpu = timed(lambda: [jax.block_until_ready(compiled(state, rgb, mask))
                               for _ in range(reps)])  # fmt: skip
    cost = compiled.cost_analysis()
    flops = float((cost[0] if isinstance(cost, list | tuple) else cost)["flops"])
    rows, frames = rgb.shape[0], rgb.shape[1]
    if s3cfg.model.get("use_conv_lstm", True):
        t_out = int(modules["cslr"].output_lengths(jnp.array([frames]))[0])
        flops += rows * lstm_loop_flops(s3cfg.model, t_out)
    mem = compiled.memory_analysis()
    peak = None if mem is None else (mem.temp_size_in_bytes + mem.argument_size_in_bytes
                                     + mem.output_size_in_bytes)  # fmt: skip
    clips = int(np.sum(batch["valid"]))
    result = {
        "fps": float(np.sum(batch["frame_mask"][batch["valid"]])) * reps / wall,
        "cpu_s_per_clip": cpu / (reps * clips),
        "gflop_per_clip": flops / rows / 1e9,
        "frames_per_clip": int(frames),
        "params": params,
        "peak_mb": None if peak is None else peak / 2**20,
        "device": jax.devices()[0].device_kind,
    }
    atomic.write_json(path, result)
    return result


# -- tables and figures ---------------------------------------------------------------


def summarize(results: dict) -> dict:
    """{setting: {seed: run}} -> {setting: {route: {split: {metric: stats}}}, with
    stats = mean, sd (sample), worst (max WER / min BLEU) and the per-seed values."""
    out = {}
    for setting, per_seed in results.items():
        runs = list(per_seed.values())
        out[setting] = {k: float(np.mean([r[k] for r in runs])) for k in ("wall_s", "train_s")
                        if all(k in r for r in runs)}  # fmt: skip
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


def format_table(experiment: str, summary: dict, costs: dict | None = None) -> str:
    """Markdown: per setting and route, test WER mean +- sd (worst), dev WER mean and,
    for Table 9, the change against the "none" row (absolute and relative); Table 8
    (``costs``) has the video route and the cost columns instead."""
    if experiment == "table8":
        return _format_table8(summary, costs)
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


def _format_table8(summary: dict, costs: dict) -> str:
    head = ["method", "test WER", "worst", "dev WER", "train clips/s", "stage-3 train s",
            "+ stages 1-2, cache s", "inference frames/s", "CPU-s / clip", "GFLOP / clip",
            "params (M)", "peak MB"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for method, stats in summary.items():
        test, dev, c = stats["video"]["test"]["wer"], stats["video"]["dev"]["wer"], costs[method]
        extra = c.get("stages_1_2_s", 0.0)  # pixel space needs no earlier stage
        cells = [method, f"{test['mean']:.2f} ± {test['sd']:.2f}", f"{test['worst']:.2f}",
                 f"{dev['mean']:.2f}", f"{c['train_clips'] / stats['train_s']:.1f}",
                 f"{stats['train_s']:.0f}",
                 "-" if extra is None else f"{stats['train_s'] + extra:.0f}",
                 f"{c['fps']:.0f}", f"{c['cpu_s_per_clip']:.3f}", f"{c['gflop_per_clip']:.2f}",
                 f"{sum(c['params'].values()) / 1e6:.2f}",
                 "-" if c["peak_mb"] is None else f"{c['peak_mb']:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(experiment: str, summary: dict, out: str, costs: dict | None = None) -> str:
    """Bars (a line over temperatures for figure6) of test WER, mean with sd; Table 8
    adds a panel of inference frames/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from signx_jax.plots import save

    settings = list(summary)
    routes = [r for r in ("video", "pose") if any(r in s for s in summary.values())]
    width_in = max(5.0, 0.9 * len(settings) + 2)
    if experiment == "table8":
        routes = ["video"]
        fig, (ax, ax_fps) = plt.subplots(1, 2, figsize=(2 * width_in, 3.2))
        ax_fps.bar(settings, [costs[s]["fps"] for s in settings], color="tab:green")
        ax_fps.set_ylabel("inference frames/s from RGB")
        ax_fps.set_title("inference speed (CTC greedy)")
    else:
        fig, ax = plt.subplots(figsize=(width_in, 3.2))
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
                  "figure6": "Figure 6: contrastive temperature",
                  "table8": "Table 8: latent vs pixel space"}[experiment])  # fmt: skip
    ax.legend()
    fig.tight_layout()
    return save(fig, out)


def write(experiment: str, root: str, results: dict, command: str, costs=None) -> str:
    summary = summarize(results)
    table = format_table(experiment, summary, costs)
    atomic.write_json(os.path.join(root, f"{experiment}.json"),
                      {"command": command, "results": results, "summary": summary,
                       **({"costs": costs} if costs else {})})  # fmt: skip
    with open(os.path.join(root, f"{experiment}.md"), "w") as f:
        f.write(f"# {experiment}\n\n{table}\n\nCommand: `{command}`\n")
    plot(experiment, summary, os.path.join(root, f"{experiment}.png"), costs)
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
    if not jax.config.jax_compilation_cache_dir:  # JAX_COMPILATION_CACHE_DIR, else our own
        jax.config.update("jax_compilation_cache_dir", os.path.join(root, "xla_cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    tables = {}
    for experiment in experiments:
        costs = None
        if experiment == "figure4":
            results = figure4(cfg, root, seeds_, variants, stage3_steps)
        elif experiment == "table8":
            results, costs = table8(cfg, root, seeds_, stage3_steps)
        elif experiment == "table9":
            results = table9(cfg, root, seeds_, streams, finetune_steps)
        else:
            results = figure6(cfg, root, seeds_, [float(t) for t in temperatures], stage3_steps)
        tables[experiment] = write(experiment, root, results, command, costs)
        print(f"\n## {experiment}\n\n{tables[experiment]}\n", flush=True)
    return tables


def paper_main(argv) -> None:
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)
    if len(argv) != 2:
        raise cli.UsageError(f"name the experiments: {','.join(EXPERIMENTS)} (a list) or all")
    experiments = EXPERIMENTS if argv[1] == "all" else tuple(argv[1].split(","))
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
