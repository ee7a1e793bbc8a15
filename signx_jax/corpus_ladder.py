"""The corpus ladder: the main job on text sides of growing difficulty, over seeds.

  python -m signx_jax.corpus_ladder --workdir runs/ladder      # 3 default rungs x seeds 0,1,2
  python -m signx_jax.corpus_ladder --workdir runs/ladder --rungs phoenix60 --seeds 0

Each rung is ``python -m signx_jax.seeds`` (the main job once per training seed,
``configs/demo.py``) with the corpus overrides below, in ``<workdir>/<rung>``:

* ``builtin``: the built-in 57-gloss grammar (the main job as it is);
* ``phoenix60`` / ``phoenix200``: the real PHOENIX-2014T gloss text shipped in
  ``data_pipelines/synthetic/text``, cut to its 60 / 200 most frequent train glosses
  (``corpus.top_glosses``), the first 600 / 200 / 200 sentences of train / dev / held-out
  test, with the annotation's own sentence repetition;
* ``phoenix60_unseen``: phoenix60 built the same way from text and a world it never
  showed: the next 600 / 200 / 200 sentences (``corpus.text_window=1``), and another
  corpus seed (other signers, other sign forms, another held-out test). Nothing was
  tuned on it: it checks that phoenix60's figures are not those of one corpus;
* ``phoenix_full``: every sentence and all 1,085 glosses of the train annotation, poses
  only (no RGB: the video route would need ~15 GB of frames), with the main job's update
  counts and buckets that follow its longer clips; about 35 minutes per seed on 2 CPU
  cores, and 3 to write the corpus the seeds share (README "Real gloss text").

Prints one table, per rung: the corpus (train clips, vocabulary, distinct train
sentences), test WER of each route with CTC greedy and with the decoder chosen on dev
(mean, sd and worst seed), and the most-frequent-train-sentence baseline. Anything after
``--`` goes to every run. Writes ``<workdir>/ladder.json`` and ``ladder.md``.
"""

from __future__ import annotations

import argparse
import json
import os

from signx_jax import atomic, seeds

PHOENIX = ["--config.corpus.glosses=phoenix2014t"]


def _stages(setting: str, value, stages=(1, 2, 3)) -> list[str]:
    """One override per stage: ``--config.stage<k>.<setting>=<value>``."""
    return [f"--config.stage{k}.{setting}={value}" for k in stages]


def _labels(n: int) -> list[str]:
    """Every stage's ``data.max_label_len`` = the rung's longest sentence (the demo's 8
    fits the built-in grammar's 2-6 glosses; longer labels would be cut in training)."""
    return _stages("data.max_label_len", n)


PHOENIX60 = [*PHOENIX, "--config.corpus.top_glosses=60", *_labels(16)]

RUNGS = {
    "builtin": [],
    "phoenix60": PHOENIX60,
    "phoenix60_unseen": [*PHOENIX60, "--config.corpus.text_window=1", "--config.corpus.seed=1"],
    "phoenix200": [*PHOENIX, "--config.corpus.top_glosses=200", *_labels(24)],
    "phoenix_full": [
        *PHOENIX,
        "--config.corpus.num_train=-1",
        "--config.corpus.num_dev=-1",
        "--config.corpus.num_test=-1",
        "--config.corpus.rgb=False",
        "--config.routes=('pose',)",
        *_labels(32),
        # its clips run to 553 frames: buckets that follow them (padding 1.24x the
        # frames instead of 2.0x with the demo's 64 / 128 / 160 and one extra bucket)
        *_stages("data.buckets", "(96,160,224,320,576)", stages=(1, 3)),
    ],  # fmt: skip
}


def corpus_stats(data_dir: str) -> dict[str, int]:
    """Train clips, gloss vocabulary and distinct sentences of a run's corpus."""
    from signx_jax.data import shards

    train = shards.open_split(data_dir, "train").replace(decode_rgb=False)
    sentences = [" ".join(str(train[i]["gloss"]).split()) for i in range(len(train))]
    vocab = {g for s in sentences for g in s.split()}
    return {"clips": len(sentences), "vocab": len(vocab), "distinct": len(set(sentences))}


def rung_row(rung: str, root: str) -> dict:
    """The ladder's row of one finished rung (from its seeds.json and seed reports)."""
    with open(os.path.join(root, "seeds.json")) as f:
        done = json.load(f)
    first = os.path.join(root, f"seed{done['seeds'][0]}")
    with open(os.path.join(first, "report", "metrics.json")) as f:
        baseline = json.load(f)["baselines"]["most frequent train sentence / test"]["wer"]
    wer = {row: m["wer"] for row, m in done["summary"].items() if " / test / " in row}
    return {"rung": rung, "seeds": done["seeds"], **corpus_stats(os.path.join(first, "data")),
            "test_wer": wer, "baseline": baseline}  # fmt: skip


def rung_diagnosis(root: str, seed_list: list[int]) -> dict[str, float]:
    """Means over seeds of ``signx_jax.diagnose`` (run on each seed's work dir if its
    ``report/diagnosis.json`` is missing): probe accuracies, stage 1's test WER, and the
    dev-chosen CSLR's test WER on novel sentences per route."""
    from signx_jax import diagnose

    found = []
    for seed in seed_list:
        run = os.path.join(root, f"seed{seed}")
        path = os.path.join(run, "report", "diagnosis.json")
        if not os.path.isfile(path):
            diagnose.diagnose(run)
        with open(path) as f:
            found.append(json.load(f))
    values: dict[str, list[float]] = {}
    for d in found:
        for name, acc in d["probe_test_frame_accuracy"].items():
            values.setdefault(f"probe: {name}", []).append(acc)
        values.setdefault("stage 1 test WER", []).append(d["stage1_test_wer"])
        for row, r in d["seen_vs_novel_test_wer"].items():
            if row.endswith(" / test / dev-chosen") and "novel" in r:
                values.setdefault(f"{row.split(' / ')[0]} novel-sentence WER", []).append(
                    r["novel"]
                )
    return {k: float(sum(v) / len(v)) for k, v in values.items()}


def format_ladder(rows: list[dict]) -> str:
    routes = sorted({r.split(" / ")[0] for row in rows for r in row["test_wer"]})
    head = ["corpus", "train clips", "glosses", "distinct train sentences"]
    head += [f"{route} test WER, {d}" for route in routes for d in ("greedy", "dev-chosen")]
    lines = ["| " + " | ".join(head + ["label-prior baseline"]) + " |",
             "|---" + "|---:" * len(head) + "|"]  # fmt: skip
    for row in rows:
        cells = [row["rung"], str(row["clips"]), str(row["vocab"]), str(row["distinct"])]
        for route in routes:
            for decoding in ("ctc_greedy", "dev-chosen"):
                s = row["test_wer"].get(f"{route} / test / {decoding}")
                text = (
                    "-"
                    if s is None
                    else f"{s['mean']:.2f} (sd {s['sd']:.2f}, worst {s['max']:.2f})"
                )
                cells.append(text)
        lines.append("| " + " | ".join(cells + [f"{row['baseline']:.2f}"]) + " |")
    seeds_text = "; ".join(f"{row['rung']}: seeds {row['seeds']}" for row in rows)
    lines.append(f"\nTest WER mean over seeds ({seeds_text}).")
    keys = list(dict.fromkeys(k for row in rows for k in row.get("diagnosis", {})))
    if keys:  # python -m signx_jax.diagnose, mean over seeds
        lines += ["", "| corpus | " + " | ".join(keys) + " |", "|---" + "|---:" * len(keys) + "|"]
        for row in rows:
            d = row.get("diagnosis", {})
            cells = [f"{d[k]:.1f}" if k in d else "-" for k in keys]
            lines.append(f"| {row['rung']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv, extra = seeds.split_passthrough(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/demo.py")
    parser.add_argument("--workdir", default="runs/ladder")
    parser.add_argument("--rungs", default="builtin,phoenix60,phoenix200",
                        help=f"comma-separated, of {', '.join(RUNGS)}")  # fmt: skip
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    rungs = [r for r in args.rungs.split(",") if r]
    if unknown := [r for r in rungs if r not in RUNGS]:
        parser.error(f"--rungs: unknown {unknown}; known {list(RUNGS)}")
    root, rows = os.path.abspath(args.workdir), []
    for rung in rungs:
        rung_dir = os.path.join(root, rung)
        print(f"[ladder] {rung}: {' '.join(RUNGS[rung] + extra) or 'the main job as it is'}")
        seeds.main(["--config", args.config, "--workdir", rung_dir, "--seeds", args.seeds,
                    "--", *RUNGS[rung], *extra])  # fmt: skip
        rows.append(rung_row(rung, rung_dir))
        rows[-1]["diagnosis"] = rung_diagnosis(rung_dir, rows[-1]["seeds"])
    table = format_ladder(rows)
    atomic.write_json(os.path.join(root, "ladder.json"), rows, indent=2)
    atomic.write_text(os.path.join(root, "ladder.md"), f"# Corpus ladder\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
