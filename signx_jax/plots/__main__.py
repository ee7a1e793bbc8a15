"""The pictures of a SignX run: ``python -m signx_jax.plots WHAT --workdir W``.

  python -m signx_jax.plots all --workdir runs/demo --out_dir figures
  python -m signx_jax.plots skeleton --workdir runs/demo --out skeleton.png --split test --index 0
  python -m signx_jax.plots alignment --workdir runs/demo --out alignment_fig7.png --route video
  python -m signx_jax.plots importance --workdir runs/demo --out importance.png --num_clips 8
  python -m signx_jax.plots curves --workdir runs/demo --out training_curves.png
  python -m signx_jax.plots wer_length --workdir runs/demo --out wer_length.png

The clip figures load the run's stages with ``signx_jax.recognize.Recognizer``
and hand its results to the drawing functions of ``signx_jax.plots``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from signx_jax import plots, schema
from signx_jax.data import shards
from signx_jax.recognize import Recognizer

# What ``all`` writes into --out_dir: the names of the pictures in colab/figures.
FILE_NAMES = {
    "skeleton": "skeleton.png",
    "alignment": "alignment_fig7.png",
    "importance": "importance.png",
    "curves": "training_curves.png",
    "wer_length": "wer_length.png",
}


def _recognise_clip(recognizer, clip: dict, route: str):
    if route == "video":
        if clip.get("rgb") is None:
            raise ValueError(f"clip {clip['clip_id']} has no RGB frames: use --route pose")
        return recognizer.from_rgb(np.asarray(clip["rgb"]), clip["fps"], clip["clip_id"])
    return recognizer.from_poses(
        schema.concat_poses(clip), np.asarray(clip["presence"], bool), clip["fps"], clip["clip_id"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m signx_jax.plots",
        description=__doc__ + "\n" + plots.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("what", choices=(*FILE_NAMES, "all"))
    parser.add_argument("--workdir", required=True, help="main-job run directory")
    parser.add_argument("--out", help="PNG path (one picture)")
    parser.add_argument("--out_dir", default=".", help="folder for 'all'")
    parser.add_argument("--split", default="test")
    parser.add_argument("--index", type=int, default=0, help="clip of --split to draw")
    parser.add_argument("--route", choices=("pose", "video"), default="video")
    parser.add_argument("--num_clips", type=int, default=8, help="clips averaged by importance")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)
    todo = tuple(FILE_NAMES) if args.what == "all" else (args.what,)
    outs = {w: os.path.join(args.out_dir, FILE_NAMES[w]) for w in todo}
    if args.what != "all" and args.out:
        outs[args.what] = args.out
    recognizer = None
    if {"skeleton", "alignment", "importance"} & set(todo):
        # Only pictures of the video route need Video2Pose (stage 2); importance reads
        # the stage-1 encoder and CSLR, as on the pose route.
        video = args.route == "video" and {"skeleton", "alignment"} & set(todo)
        recognizer = Recognizer(args.workdir, routes=("video", "pose") if video else ("pose",))
        source = shards.open_split(os.path.join(args.workdir, "data"), args.split)
    for what in todo:
        if what in ("skeleton", "alignment"):
            clip = source[args.index]
            result = _recognise_clip(recognizer, clip, args.route)
            print(f"{clip['clip_id']}: reference {clip['gloss']!r}, recognised {result.text!r}")
            if what == "skeleton":
                title = f"{clip['clip_id']} ({args.route} route): {result.text or '(nothing)'}"
                plots.skeleton_frames(
                    result.poses,
                    result.presence,
                    outs[what],
                    glosses=result.segments,
                    fps=result.fps,
                    title=title,
                )
            else:
                plots.alignment_figure(
                    result, outs[what], vocab=recognizer.vocab, reference=clip["gloss"]
                )
        elif what == "importance":
            clips = [source[i] for i in range(min(args.num_clips, len(source)))]
            sal = plots.modality_saliency(recognizer, clips)
            plots.importance_figure(
                sal,
                outs[what],
                title=f"importance of the 1,959 pose dims "
                f"(|grad x input| of the CTC loss, {len(clips)} {args.split} clips)",
            )
        elif what == "curves":
            plots.training_curves(args.workdir, outs[what])
        else:
            plots.wer_by_length(args.workdir, outs[what])
        print(f"wrote {outs[what]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
