r"""Latency and accuracy of live recognition (``signx_jax/live.py``; README "Browser demo").

  python -m signx_jax.benchmarks.live --workdir runs/demo --windows 48,64,96 --strides 4,8

Streams the run's test clips back to back (one signer, sentence after sentence;
each clip starts and ends at rest) through ``LiveRecognizer`` as a camera would
deliver them: frame k arrives at k / fps and a window's compute (measured, wall
clock) delays everything after it. For every emitted gloss that
matches a sign of the reference (same gloss, overlapping frames; the synthetic
corpus records each sign's frames), the latency is the time from the end of that
sign to the gloss being emitted. Also: live WER (glosses after the stream ends; a
gloss counts for the clip holding its middle frame) next to whole-clip recognition of
the same clips (CTC greedy, and the run's released decoder), the mean compute per
window and the real-time factor (compute / stride duration: below 1 keeps up).
Writes ``live.md`` and ``live.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import jiwer
import numpy as np
from tqdm import tqdm

from signx_jax.live import LiveConfig, LiveRecognizer, greedy_segments

LATENCY = ("mean", "p50", "p90", "max")


def stream(live: LiveRecognizer, rgb: np.ndarray) -> list[dict]:
    """Frames [T, H, W, 3] through ``live`` in simulated real time -> the emitted glosses,
    each with ``emitted_s``: when it reached the screen."""
    busy_until, out = 0.0, []
    for k, frame in enumerate(rgb):
        start = time.perf_counter()
        new = live.push(frame)
        compute = time.perf_counter() - start
        begin = max((k + 1) / live.fps, busy_until)  # the frame is there; the last window done
        busy_until = begin + compute
        out += [{**g, "emitted_s": busy_until} for g in new]
    start = time.perf_counter()
    tail = live.flush()
    done = max(len(rgb) / live.fps, busy_until) + time.perf_counter() - start
    return out + [{**g, "emitted_s": done, "flushed": True} for g in tail]


def session(clips: list[dict]) -> tuple[np.ndarray, list[tuple[str, int, int, int]]]:
    """The clips back to back, as one signer signing sentence after sentence (each clip
    starts and ends at rest) -> (frames, [(gloss, start, end, clip)] in stream frames)."""
    signs, offset = [], 0
    for c, clip in enumerate(clips):
        for gloss, (start, end) in zip(clip["gloss"].split(), clip["gloss_spans"], strict=True):
            signs.append((gloss, offset + int(start), offset + int(end), c))
        offset += len(clip["rgb"])
    return np.concatenate([clip["rgb"] for clip in clips]), signs


def score(emitted: list[dict], signs: list, clips: list[dict], fps: float) -> dict:
    """Per-clip hypotheses (a gloss belongs to the clip holding its middle frame);
    latency from each matched sign's end (same gloss, most overlap) to its gloss."""
    bounds = np.cumsum([len(c["rgb"]) for c in clips])
    hyps = [[] for _ in clips]
    lat = []
    for g in emitted:
        hyps[int(np.searchsorted(bounds, (g["start_frame"] + g["end_frame"]) / 2, "right"))] += [
            g["gloss"]
        ]
        overlap = [min(e, g["end_frame"]) - max(s, g["start_frame"]) if name == g["gloss"] else 0
                   for name, s, e, _ in signs]  # fmt: skip
        best = int(np.argmax(overlap))
        if overlap[best] > 0:
            lat.append(g["emitted_s"] - signs[best][2] / fps)
    return {"hyps": [" ".join(h) or "<none>" for h in hyps], "lat": lat}


def run(rec, clips, config: LiveConfig, mode: str) -> dict:
    """``mode`` "clip": each clip its own stream (the demo's Play live); "session": the
    clips back to back as one stream (a camera on a signer)."""
    fps = clips[0]["fps"]
    live = LiveRecognizer(rec, config, fps=fps)
    live.warmup()
    groups = [clips] if mode == "session" else [[c] for c in clips]
    hyps, refs, lat, emitted, signs, steps = [], [], [], 0, 0, []
    for group in tqdm(groups, desc=f"{mode}: window {config.window} stride {config.stride}",
                      leave=False):  # fmt: skip
        rgb, group_signs = session(group)
        live = LiveRecognizer(rec, config, fps=fps)
        out = stream(live, rgb)
        scored = score(out, group_signs, group, fps)
        hyps += scored["hyps"]
        refs += [c["gloss"] for c in group]
        lat += scored["lat"]
        emitted, signs, steps = (
            emitted + len(out),
            signs + len(group_signs),
            steps + live.step_seconds,
        )
    return {
        "mode": mode,
        "window": config.window,
        "stride": config.stride,
        "margin": config.stable_margin,
        "live_wer": 100 * jiwer.wer(refs, hyps),
        "latency_s": _summary(lat),
        "emitted": emitted,
        "signs": signs,
        "window_ms": 1000 * float(np.mean(steps)),
        "real_time_factor": float(np.mean(steps)) / (config.stride / fps),
    }


def _summary(lat: list[float]) -> dict:
    """Mean / p50 / p90 / max seconds (None without a matched gloss)."""
    if not lat:
        return {"mean": None, "p50": None, "p90": None, "max": None, "matched": 0}
    q = np.percentile(lat, [50, 90])
    return {"mean": float(np.mean(lat)), "p50": float(q[0]), "p90": float(q[1]),
            "max": float(np.max(lat)), "matched": len(lat)}  # fmt: skip


def whole_clip_wer(rec, clips) -> dict:
    """WER of whole-clip recognition: the released decoder, and CTC greedy."""
    refs, released, greedy = [], [], []
    for clip in tqdm(clips, desc="whole clips", leave=False):
        result = rec.from_rgb(clip["rgb"], clip["fps"])
        best = greedy_segments(result.log_probs, result.num_frames)
        refs.append(clip["gloss"])
        released.append(result.text or "<none>")
        greedy.append(" ".join(rec.vocab.id_to_token(s["id"]) for s in best) or "<none>")
    return {
        "released": 100 * jiwer.wer(refs, released),
        "decoder": rec.decoders["video"][0],
        "ctc_greedy": 100 * jiwer.wer(refs, greedy),
    }


def markdown(rows: list[dict], whole: dict, clips: int, source: str) -> str:
    lines = [
        f"Live recognition of {clips} test clips of `{source}` in simulated real time on "
        f"this machine; stream `clip`: each clip alone, `session`: the clips back to back. "
        f"Whole-clip WER of the same clips: "
        f"{whole['released']:.2f} ({whole['decoder']}), {whole['ctc_greedy']:.2f} (CTC greedy).",
        "",
        "| stream | window | stride | margin | live WER | latency mean (s) | p50 | p90 | max "
        "| glosses / signs | window compute (ms) | real-time factor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        la = r["latency_s"]
        lines.append(
            f"| {r['mode']} | {r['window']} | {r['stride']} | {r['margin']} | "
            f"{r['live_wer']:.2f} | "
            + " | ".join("n/a" if la[k] is None else f"{la[k]:.3f}" for k in LATENCY)
            + " | "
            f"{r['emitted']}/{r['signs']} | {r['window_ms']:.1f} | "
            f"{r['real_time_factor']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m signx_jax.benchmarks.live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", required=True, help="main-job run (its test clips)")
    parser.add_argument("--model", help="model bundle (default: the run's own stages)")
    parser.add_argument("--windows", default="64", help="comma-separated, frames")
    parser.add_argument("--strides", default="8", help="comma-separated, frames")
    parser.add_argument("--margin", type=int, default=None)
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--out", help="directory for live.md / live.json (default W/report)")
    args = parser.parse_args(argv)
    from signx_jax.data import shards
    from signx_jax.recognize import Recognizer

    logging.getLogger("absl").setLevel(logging.ERROR)
    if args.model:
        rec = Recognizer.from_pretrained(args.model, routes=("video",))
    else:
        rec = Recognizer(args.workdir, routes=("video",))
    test = shards.open_split(os.path.join(args.workdir, "data"), "test")
    clips = [test[k] for k in range(min(args.clips, len(test)))]
    whole = whole_clip_wer(rec, clips)
    rows = []
    for window in map(int, args.windows.split(",")):
        for stride in map(int, args.strides.split(",")):
            for mode in ("clip", "session"):
                rows.append(run(rec, clips, LiveConfig(window, stride, args.margin), mode))
    out = args.out or os.path.join(args.workdir, "report")
    os.makedirs(out, exist_ok=True)
    text = markdown(rows, whole, len(clips), args.model or args.workdir)
    with open(os.path.join(out, "live.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "live.json"), "w") as f:
        json.dump({"whole_clip_wer": whole, "clips": len(clips), "rows": rows}, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
