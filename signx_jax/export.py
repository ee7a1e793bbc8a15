"""Write a trained run's model bundle (layout: ``signx_jax/bundle.py``; README "Model bundle").

  python -m signx_jax.export --workdir runs/demo --out runs/demo/bundle

The main job writes ``<workdir>/bundle`` itself after its evaluate step.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import numpy as np

from signx_jax import bundle
from signx_jax.recognize import ROUTES, RecognitionError, Recognizer


def export(workdir: str, out: str, routes: tuple[str, ...] | None = None) -> str:
    """Write the bundle of the main-job run in ``workdir`` to ``out``."""
    workdir = os.path.abspath(workdir)
    if routes is None:
        routes = tuple(r for r in ROUTES if r != "video" or os.path.isdir(f"{workdir}/stage2"))
    rec = Recognizer(workdir, routes=routes)
    meta = {
        "routes": list(routes),
        "decoders": {r: list(rec.decoders[r]) for r in routes},
        "min_frames": rec.min_frames,
        "image_size": getattr(rec, "image_size", None),
        "cslr_checkpoints": [int(s) for s in rec.cslr_steps],
    }
    card = model_card(workdir, {**meta, "signx_jax_version": bundle.package_version(),
                                "dataset": rec.stage3.cfg.get("dataset", "unknown")})  # fmt: skip
    vocab = os.path.join(workdir, "data", "vocab.json")
    samples = (lambda tmp: write_samples(workdir, tmp)) if "video" in routes else None
    return bundle.write(out, rec.trainers, meta, vocab, card, extra=samples)


def write_samples(workdir: str, out: str, count: int = 4) -> list[dict[str, Any]]:
    """The first ``count`` test clips of the run as ``out/samples/NN.webm`` with
    ``samples.json`` (file, reference glosses, fps, frames, the signs' frame spans
    where the corpus knows them): the web demo's sample clips. None when the run's
    test split has no RGB frames."""
    import json

    from signx_jax.data import shards
    from signx_jax.recognize import write_video

    test = shards.open_split(os.path.join(workdir, "data"), "test")
    rows = []
    os.makedirs(os.path.join(out, "samples"), exist_ok=True)
    for k in range(min(count, len(test))):
        clip = test[k]
        if clip is None or clip.get("rgb") is None:
            continue
        name = f"samples/{k:02d}.webm"
        write_video(os.path.join(out, name), clip["rgb"], clip["fps"])
        row = {"file": name, "gloss": clip["gloss"], "fps": float(clip["fps"]),
               "frames": len(clip["rgb"])}  # fmt: skip
        if clip.get("gloss_spans") is not None:
            row["gloss_spans"] = np.asarray(clip["gloss_spans"]).tolist()
        rows.append(row)
    with open(os.path.join(out, "samples.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return rows


def model_card(workdir: str, meta: dict[str, Any]) -> str:
    """README.md of a bundle: what the model is, its data, its metrics with their command."""
    report = os.path.join(workdir, "report", "report.md")
    metrics = open(report).read().strip() if os.path.isfile(report) else "(not evaluated)"
    dataset = meta["dataset"]
    routes = ", ".join(meta["routes"])
    decoders = "; ".join(f"{r}: {m} {k or ''}".strip() for r, (m, k) in meta["decoders"].items())
    size = meta["image_size"]  # None without the video route
    frames = f" Video frames are centre-cropped and resized to {size} x {size}." if size else ""
    return f"""# SignX (signx-jax) model bundle

Continuous sign language recognition in a pose-rich latent space (SignX), trained with
signx-jax {meta["signx_jax_version"]} on **{dataset}**. Routes: {routes} (`video`: RGB
frames -> Video2Pose -> Pose2Gloss encoder -> CSLR; `pose`: MediaPipe holistic poses ->
Pose2Gloss encoder -> CSLR). Decoders chosen on dev: {decoders}.

## Use

```bash
python -m signx_jax.recognize --model <this folder> --input clip.mp4 --vtt clip.vtt
```

or `signx_jax.recognize.Recognizer.from_pretrained("<this folder>")` in Python. Inputs
shorter than {meta["min_frames"]} frames are refused.{frames}

## Data and metrics

Trained and evaluated by the main job in `{workdir}`; its report, with the command that
reproduces it:

{metrics}

## Intended use and limits

Research on sign language recognition and a demonstration of the pipeline. A model
trained on the synthetic corpus (dataset `synthetic`) recognises the corpus's rendered
signers and its gloss vocabulary only, not real signing. A model trained on a real
dataset inherits that dataset's signers, recording conditions, gloss conventions and
licence (PHOENIX-2014T and CSL-Daily: non-commercial use); it recognises glosses, not
translations, and its error rate on other signers and cameras is unknown until measured.
Do not use it for decisions about people.

## Files

`signx.json` (configs, decoders, constants), `vocab.json`, `stage1/2/3.safetensors`
(parameters by pytree path); layout in signx-jax's README, "Model bundle".
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m signx_jax.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", required=True, help="main-job run directory")
    parser.add_argument("--out", help="bundle directory (default: <workdir>/bundle)")
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax warns on read-only managers
    try:
        out = export(args.workdir, args.out or os.path.join(args.workdir, "bundle"))
    except (bundle.BundleError, RecognitionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
