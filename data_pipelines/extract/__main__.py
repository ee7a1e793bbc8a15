"""Extract MediaPipe holistic landmarks from a video or a frame folder.

    python -m data_pipelines.extract --video clip.mp4 --out clip.npz
    python -m data_pipelines.extract --video frames_dir/ --out clip.npz --static
    python -m data_pipelines.extract --setup          # only create the MediaPipe venv

The first run creates ``.extract-venv/`` (mediapipe 0.10.21, a few minutes).
"""

from __future__ import annotations

import argparse
import sys

from data_pipelines.extract.mediapipe_extract import ExtractionError, ensure_venv, extract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_pipelines.extract")
    parser.add_argument("--video", help="video file (mp4/avi/webm/mov) or folder of frames")
    parser.add_argument("--out", help="output .npz")
    parser.add_argument("--static", action="store_true", help="no tracking between frames")
    parser.add_argument("--max_frames", type=int, default=None)
    parser.add_argument("--setup", action="store_true", help="create the venv and exit")
    args = parser.parse_args(argv)
    try:
        if args.setup:
            print(ensure_venv())
            return 0
        if not args.video or not args.out:
            parser.error("--video and --out are required (or --setup)")
        arrays = extract(
            args.video, args.out, static_image_mode=args.static, max_frames=args.max_frames
        )
    except ExtractionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    parts = arrays["mediapipe_parts"].mean(axis=0)
    print(
        f"{args.out}: {len(arrays['mediapipe'])} frames; found pose {parts[0]:.0%}, "
        f"left hand {parts[1]:.0%}, right hand {parts[2]:.0%}, "
        f"face {arrays['face_present'].mean():.0%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
