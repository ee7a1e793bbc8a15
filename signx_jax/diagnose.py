"""Where recognition of new sentences is lost, measured on a finished main-job run.

  python -m signx_jax.diagnose --workdir runs/demo

Three measurements (README "Real gloss text"), printed and written to
``W/report/diagnosis.json``:

* **Sign information per frame.** A linear probe (ridge regression to one-hot
  glosses over standardised features) is fitted on the train frames inside each
  gloss's span and scored on the test frames: for the raw poses (the control, no
  stage 1) and for each route's cached latents. A latent space that encodes
  whole sentences rather than signs scores well below the raw poses.
* **Stage 1 alone.** Test WER of Pose2Gloss's own gloss head (greedy), beside
  CSLR's pose route: what stage 3 adds on top of the frozen latent space.
* **Seen vs novel sentences.** CSLR test WER (from the report's hypotheses) on
  test sentences that occur in train and on those that do not, per route and
  decoding: a decoder or CSLR that learned the training sentences shows a gap.
"""

from __future__ import annotations

import argparse
import json
import os

import ml_collections
import numpy as np

from signx_jax import atomic, evaluate


def span_frames(source, key: str, max_records: int | None = None):
    """(frames [N, D] float32, gloss per frame [N]) of every gloss span of ``source``."""
    xs, ys = [], []
    for i in range(min(len(source), max_records or len(source))):
        record = source[i]
        feats = np.asarray(record[key], np.float32)
        for gloss, (a, b) in zip(record["gloss"].split(), record["gloss_spans"], strict=False):
            if 0 <= a < b:
                xs.append(feats[a:b])
                ys += [gloss] * len(xs[-1])  # a span may run past the clip's last frame
    return np.concatenate(xs), np.asarray(ys)


def probe_accuracy(train, test, ridge: float = 1e-2) -> float:
    """Frame accuracy (%) on ``test`` of a ridge probe fitted on ``train`` (each a
    (frames, glosses) pair); test frames of glosses never seen in train count wrong."""
    (x, y), (xt, yt) = train, test
    mean, sd = x.mean(0), x.std(0) + 1e-6
    x, xt = (x - mean) / sd, (xt - mean) / sd
    classes, target = np.unique(y, return_inverse=True)
    onehot = np.eye(len(classes), dtype=np.float32)[target]
    w = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ onehot)
    return 100.0 * float(np.mean(classes[(xt @ w).argmax(1)] == yt))


def seen_and_novel(report_dir: str, train_sentences: set[str], dataset: str) -> dict:
    """{row: {"seen": WER, "novel": WER, "num_seen", "num_novel"}} of every test row."""
    with open(os.path.join(report_dir, "hypotheses.json")) as f:
        rows = json.load(f)
    out = {}
    for name, texts in rows.items():
        if " / test / " not in name:
            continue
        seen = [" ".join(r.split()) in train_sentences for r in texts["refs"]]
        result = {}
        for label, keep in (("seen", True), ("novel", False)):
            pairs = [(r, h) for r, h, s in zip(texts["refs"], texts["hyps"], seen, strict=True)
                     if s == keep]  # fmt: skip
            result[f"num_{label}"] = len(pairs)
            if pairs:
                refs, hyps = zip(*pairs, strict=True)
                result[label] = evaluate.gloss_wer(list(refs), list(hyps), dataset=dataset)["wer"]
        out[name] = result
    return out


def stage1_test_wer(workdir: str, test, vocab) -> float:
    """Test WER of the run's Pose2Gloss gloss head, decoded as its dev evaluation is."""
    from signx_jax import checkpoint as ckpt_lib
    from signx_jax.main import restored
    from signx_jax.train import fit, tasks

    stage_dir = os.path.join(workdir, "stage1")
    cfg = ml_collections.ConfigDict(ckpt_lib.saved_config(stage_dir))
    trainer = restored(cfg, tasks.Pose2GlossTask(cfg, len(vocab)), stage_dir, hint="train it")
    return fit.evaluate(trainer, test, vocab, desc="stage 1 test")["wer"]


def diagnose(workdir: str, max_probe_records: int = 600) -> dict:
    from signx_jax.data import shards
    from signx_jax.data.vocab import Vocabulary

    data_dir = os.path.join(workdir, "data")
    vocab = Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    clips = {s: shards.open_split(data_dir, s).replace(decode_rgb=False, split_streams=False)
             for s in ("train", "test")}  # fmt: skip
    with open(os.path.join(workdir, "report", "metrics.json")) as f:
        dataset = json.load(f)["dataset"]
    probes = {"raw poses": [span_frames(clips[s], "poses", max_probe_records) for s in clips]}
    for route in sorted(os.listdir(os.path.join(workdir, "latents"))):
        lat = [shards.open_split(os.path.join(workdir, "latents", route), s) for s in clips]
        probes[f"{route} latents"] = [span_frames(s, "latent", max_probe_records) for s in lat]
    train = clips["train"]
    sentences = {" ".join(str(train[i]["gloss"]).split()) for i in range(len(train))}
    result = {
        "probe_test_frame_accuracy": {k: probe_accuracy(*v) for k, v in probes.items()},
        "stage1_test_wer": stage1_test_wer(workdir, clips["test"], vocab),
        "seen_vs_novel_test_wer": seen_and_novel(
            os.path.join(workdir, "report"), sentences, dataset
        ),  # fmt: skip
    }
    atomic.write_json(os.path.join(workdir, "report", "diagnosis.json"), result, indent=2)
    return result


def format_diagnosis(result: dict) -> str:
    lines = ["| linear probe, test frames | gloss accuracy % |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result["probe_test_frame_accuracy"].items()]
    lines += ["", f"Stage 1 alone (Pose2Gloss gloss head), test WER: "
              f"{result['stage1_test_wer']:.2f}", ""]  # fmt: skip
    lines += ["| CSLR test row | WER, seen sentences (n) | WER, novel sentences (n) |",
              "|---|---:|---:|"]  # fmt: skip
    for name, r in result["seen_vs_novel_test_wer"].items():
        cells = [f"{r[k]:.2f} ({r[f'num_{k}']})" if k in r else "-" for k in ("seen", "novel")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="a finished main-job run")
    args = parser.parse_args(argv)
    print(format_diagnosis(diagnose(args.workdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
