"""Convert a real dataset's publisher files into pose shards.

    python -m data_pipelines.datasets convert --dataset phoenix2014t \\
        --root /data/PHOENIX-2014-T-release-v3 --out /data/shards/phoenix2014t \\
        [--poses_root /data/poses/phoenix2014t] [--rgb_size 64] [--max_frames 400]

Each dataset module's docstring gives the directory layout it expects;
``pose_files`` gives the pose layout. Exit code 2 (and one line naming the
file) when the input cannot be converted at all; per-clip problems are listed
in ``<out>/skipped.json`` and summarised on stdout.
"""

from __future__ import annotations

import argparse
import sys

from data_pipelines.datasets.common import ConversionError
from data_pipelines.datasets.convert import DATASETS, convert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_pipelines.datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="publisher files -> shards + vocab.json + skipped.json")
    c.add_argument("--dataset", required=True, choices=DATASETS)
    c.add_argument("--root", required=True, help="folder with the publisher's files")
    c.add_argument("--out", required=True, help="output folder for the shards")
    c.add_argument("--poses_root", default=None, help="per-clip pose files (see pose_files.py)")
    c.add_argument("--rgb_size", type=int, default=None, help="also store RGB frames, S x S")
    c.add_argument("--max_frames", type=int, default=None, help="skip clips longer than this")
    c.add_argument("--records_per_shard", type=int, default=256)
    c.add_argument("--num_classes", type=int, default=None, help="WLASL-N: first N glosses")
    args = parser.parse_args(argv)
    try:
        report = convert(
            args.dataset,
            args.root,
            args.out,
            poses_root=args.poses_root,
            rgb_size=args.rgb_size,
            max_frames=args.max_frames,
            records_per_shard=args.records_per_shard,
            num_classes=args.num_classes,
        )
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"skip list: {args.out}/skipped.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
