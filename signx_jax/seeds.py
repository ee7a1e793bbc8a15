"""The main job over several seeds: mean, sd, min and max of every reported metric.

  python -m signx_jax.seeds --config configs/demo.py --workdir runs/seeds            # seeds 0,1,2
  python -m signx_jax.seeds --config configs/demo.py --workdir runs/seeds --seeds 0,1,2,3,4

Each seed is one run of ``python -m signx_jax.main`` with ``--config.seed=S`` in
``<workdir>/seed<S>``, in its own process (a fresh JAX runtime, and an honest
wall time). The seed is the *training* seed (initialisation, batch order,
augmentation views, dropout) of all three stages; the corpus is the data set
and stays the same, so it is generated once, by the first seed, and hard-linked
into the others (the corpus time is counted in the first seed only). Anything
after ``--`` goes to every run (e.g. ``-- --config.stage3.train.total_steps=500``).

Writes ``<workdir>/seeds.json`` and ``seeds.md``, and prints the table the
README's results come from: per route / split / decoding and per metric, the
mean, sample sd, min and max over seeds, and each seed's wall time. A target
("test WER <= 30") is met when both the mean and the worst seed meet it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from signx_jax import atomic

METRICS = ("wer", "bleu4", "rouge_l")


def link_corpus(src: str, dst: str) -> None:
    """Hard-link the finished corpus of one seed into another seed's work dir."""
    if os.path.exists(dst) or not os.path.isdir(src):
        return
    with atomic.directory(dst) as tmp:
        shutil.copytree(src, tmp, copy_function=os.link, dirs_exist_ok=True)


def run_seed(config: str, workdir: str, seed: int, extra: list[str]) -> float:
    """One main-job run; returns its wall time in seconds (raises if it failed)."""
    cmd = [sys.executable, "-m", "signx_jax.main", f"--config={config}",
           f"--workdir={workdir}", f"--config.seed={seed}", *extra]  # fmt: skip
    print(f"[seeds] seed {seed}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def summarize(per_seed: dict[int, dict]) -> dict[str, dict[str, dict[str, float]]]:
    """{seed: metrics.json} -> {row: {metric: {mean, sd, min, max}}}."""
    rows = next(iter(per_seed.values()))["metrics"]
    out = {}
    for row in rows:
        out[row] = {}
        for metric in METRICS:
            values = np.array([m["metrics"][row][metric] for m in per_seed.values()])
            sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            out[row][metric] = dict(mean=float(values.mean()), sd=sd,
                                    min=float(values.min()), max=float(values.max()))  # fmt: skip
    return out


def format_summary(summary: dict, walls: dict[int, float], seeds: list[int]) -> str:
    head = ["route / split / decoding"]
    for metric in METRICS:
        head += [f"{metric.upper()} mean", "sd", "min", "max"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for row, metrics in summary.items():
        cells = [row]
        for metric in METRICS:
            s = metrics[metric]
            cells += [f"{s['mean']:.2f}", f"{s['sd']:.2f}", f"{s['min']:.2f}", f"{s['max']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    walls_text = ", ".join(f"seed {s}: {walls[s] / 60:.1f} min" for s in seeds)
    return "\n".join(lines) + f"\n\nSeeds {seeds}; wall time per run: {walls_text}."


def split_passthrough(argv: list[str] | None) -> tuple[list[str], list[str]]:
    """(own arguments, arguments after ``--`` for every main-job run)."""
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        return argv, []
    return argv[: argv.index("--")], argv[argv.index("--") + 1 :]


def main(argv: list[str] | None = None) -> None:
    argv, extra = split_passthrough(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/demo.py")
    parser.add_argument("--workdir", default="runs/seeds")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if len(set(seeds)) != len(seeds) or not seeds:
        parser.error(f"--seeds {args.seeds!r}: give distinct integers, e.g. 0,1,2")
    root = os.path.abspath(args.workdir)
    walls_path = os.path.join(root, "walls.json")
    os.makedirs(root, exist_ok=True)
    walls = {int(k): v for k, v in atomic.read_json(walls_path, {}).items()}
    per_seed = {}
    for seed in seeds:
        workdir = os.path.join(root, f"seed{seed}")
        report = os.path.join(workdir, "report", "metrics.json")
        if not os.path.exists(report):  # a finished seed is not rerun
            link_corpus(
                os.path.join(root, f"seed{seeds[0]}", "data"), os.path.join(workdir, "data")
            )
            walls[seed] = run_seed(args.config, workdir, seed, extra)
            atomic.write_json(walls_path, walls)
        per_seed[seed] = atomic.read_json(report)
    summary = summarize(per_seed)
    table = format_summary(summary, walls, seeds)
    atomic.write_json(os.path.join(root, "seeds.json"),
                {"seeds": seeds, "wall_s": walls, "summary": summary,
                 "per_seed": {s: m["metrics"] for s, m in per_seed.items()}})  # fmt: skip
    with open(os.path.join(root, "seeds.md"), "w") as f:
        f.write(f"# {args.config} over seeds {seeds}\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
