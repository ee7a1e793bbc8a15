"""CSL-Daily annotations -> ClipSources (README "Design").

Layout (``--root`` = the CSL-Daily folder)::

    sentence_label/video_map.txt   index|name|length|gloss|char|word|postag
    sentence_label/split_1.txt     name|split          (split in train / dev / test)
    sentence/frames_512x512/<name>/*.jpg

``gloss`` is the space-separated gloss sequence; ``char`` is the Chinese
sentence one character per token and ``word`` the same sentence word-segmented.
The translation is ``word`` (words separated by spaces), so that
``configs/csl_daily_translation.py`` can use characters or BPE over the words;
removing the spaces gives the character sentence back. ``name`` is
``S<sentence>_P<signer>_T<take>``: the signer is the ``P....`` part. ``length``
(frames) is cross-checked against the folder when frames are read; a
disagreement is a warning, the folder wins. 30 fps. ``split_1.txt`` is also
looked for next to ``sentence_label/``.
"""

from __future__ import annotations

from pathlib import Path

from data_pipelines.datasets.common import (
    SPLITS,
    ClipSource,
    Report,
    dir_exists,
    file_name_problem,
    read_pipe_table,
)

FPS = 30.0
SPLIT_ALIASES = {"train": "train", "dev": "dev", "val": "dev", "test": "test"}


def signer_of(name: str) -> str:
    parts = [p for p in name.split("_") if p.startswith("P")]
    return parts[0] if parts else "unknown"


def read_splits(root: Path, report: Report) -> dict[str, tuple[str, str]]:
    """name -> (split, file:line)."""
    path = root / "sentence_label" / "split_1.txt"
    if not path.is_file() and (root / "split_1.txt").is_file():
        path = root / "split_1.txt"
    out: dict[str, tuple[str, str]] = {}
    for where, row in read_pipe_table(path, ("name", "split"), report):
        split = SPLIT_ALIASES.get(row["split"].lower())
        if split is None:
            report.skip(where, f"unknown split {row['split']!r}, expected one of {SPLITS}")
            continue
        if row["name"] in out:
            report.skip(where, f"duplicate name {row['name']!r} (first at {out[row['name']][1]})")
            continue
        out[row["name"]] = (split, where)
    return out


def list_clips(root: Path, report: Report) -> dict[str, list[ClipSource]]:
    root = Path(root)
    splits = read_splits(root, report)
    cols = ("index", "name", "length", "gloss", "char", "word", "postag")
    out: dict[str, list[ClipSource]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    frames_root = root / "sentence" / "frames_512x512"
    for where, row in read_pipe_table(root / "sentence_label" / "video_map.txt", cols, report):
        name = row["name"]
        if not name:
            report.skip(where, "malformed line: empty name")
            continue
        problem = file_name_problem(name)
        if problem:
            report.skip(where, f"malformed line: name {problem}")
            continue
        seen.add(name)
        if name not in splits:
            report.skip(name, f"not in split_1.txt ({where})")
            continue
        split = splits[name][0]
        if not (row["length"].isascii() and row["length"].isdigit()):  # not '²'
            report.skip(
                name, f"malformed line: length {row['length']!r} is not a number ({where})", split
            )
            continue
        if int(row["length"]) == 0:
            report.skip(name, f"zero-length clip: length column is 0 ({where})", split)
            continue
        if not row["gloss"].split():
            report.skip(name, f"empty gloss sequence ({where})", split)
            continue
        frames_dir = frames_root / name
        if not dir_exists(frames_dir):
            report.skip(name, f"missing frames folder: {frames_dir} ({where})", split)
            continue
        out[split].append(
            ClipSource(
                clip_id=name,
                split=split,
                dataset="csl_daily",
                signer=signer_of(name),
                fps=FPS,
                gloss=" ".join(row["gloss"].split()),
                translation=" ".join(row["word"].split()),
                frames_dir=frames_dir,
                expected_frames=int(row["length"]),
                where=where,
            )
        )
    missing = sorted(set(splits) - seen)
    if missing:
        report.warn(
            f"{len(missing)} name(s) in split_1.txt have no video_map.txt line: {missing[:5]}"
        )
    return out
