"""Shared parts of the real-dataset converters (README "Design").

Every converter splits its work in two:

1. ``list_clips(root, report)`` parses the publisher's annotation files into
   ``ClipSource`` descriptions (text, splits, where the frames / poses are).
   Parsing is cheap and is what most tests exercise.
2. ``materialize(source, ...)`` (``convert.py``) reads frames and pose files
   and returns a Clip record (``signx_jax.schema``).

Problems come in two kinds. A problem with the whole input (annotation file
missing, required column missing, XML that does not parse) raises
``ConversionError``. A problem with one clip (malformed line, missing frames
folder, zero-length, too long, bad pose shape) becomes a skip entry in the
``Report`` (record id + reason), written to ``out_dir/skipped.json``. A clip
that is converted but deserves a look (a dev/test gloss outside the train
vocabulary, read as <unk> when training) is a record warning there: record id +
reason naming its file:line, the clip stays in the shards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SPLITS: tuple[str, ...] = ("train", "dev", "test")
FRAME_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")


class ConversionError(ValueError):
    """Input the converter cannot use; the message names file:line or record."""


@dataclasses.dataclass
class ClipSource:
    """One clip as the annotation files describe it, before any frame is read.

    ``frame_range`` is the 0-indexed [start, end) window inside the frames /
    video / pose sequence found for ``media_key`` (``end`` None = to the end);
    None means the whole sequence is the clip.
    """

    clip_id: str
    split: str
    dataset: str
    signer: str
    fps: float
    gloss: str
    translation: str = ""
    frames_dir: Path | None = None
    video_path: Path | None = None
    media_key: str = ""  # name looked up under poses_root (defaults to clip_id)
    frame_range: tuple[int, int | None] | None = None
    gloss_spans: np.ndarray | None = None  # int32 [N, 2], relative to the clip start
    expected_frames: int | None = None  # frame count the annotation claims, if any
    where: str = ""  # file:line (or file + element) the clip was described at

    def __post_init__(self) -> None:
        if not self.media_key:
            self.media_key = self.clip_id


@dataclasses.dataclass
class Report:
    """Skip list and warnings of one conversion run."""

    dataset: str = ""
    skipped: list[dict] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    written: dict[str, int] = dataclasses.field(default_factory=dict)
    # Records that were converted, each with why it is worth a look.
    record_warnings: list[dict] = dataclasses.field(default_factory=list)

    def skip(self, record: str, reason: str, split: str = "") -> None:
        self.skipped.append({"record": record, "split": split, "reason": reason})

    def warn_record(self, record: str, reason: str, split: str = "") -> None:
        """A converted (not skipped) record with a problem; same fields as a skip."""
        self.record_warnings.append({"record": record, "split": split, "reason": reason})

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def reasons(self) -> list[str]:
        return [s["reason"] for s in self.skipped]

    def write(self, out_dir: str | os.PathLike) -> Path:
        path = Path(out_dir) / "skipped.json"
        payload = {
            "dataset": self.dataset,
            "written": self.written,
            "num_skipped": len(self.skipped),
            "skipped": self.skipped,
            "warnings": self.warnings,
            "num_record_warnings": len(self.record_warnings),
            "record_warnings": self.record_warnings,
        }
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return path

    def summary(self) -> str:
        lines = [f"{self.dataset}: wrote " + ", ".join(f"{k}={v}" for k, v in self.written.items())]
        # Group reasons by their kind (text before the first ':'), so a summary
        # of 10k skips stays short; skipped.json has every entry.
        for title, entries in (
            ("skipped {} record(s)", self.skipped),
            ("converted {} record(s) with a warning", self.record_warnings),
        ):
            if entries or entries is self.skipped:
                lines.append(title.format(len(entries)))
            kinds: dict[str, int] = {}
            for s in entries:
                kind = s["reason"].split(":")[0][:60]
                kinds[kind] = kinds.get(kind, 0) + 1
            by_count = sorted(kinds.items(), key=lambda kv: -kv[1])
            lines += [f"  {n:6d} x {kind}" for kind, n in by_count]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def read_pipe_table(
    path: Path,
    required: tuple[str, ...],
    report: Report,
    *,
    optional: tuple[str, ...] = (),
) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (``file:line``, row) from a ``|``-separated file with a header.

    Missing file or missing required columns raise ConversionError; unknown
    columns are a warning (publishers add columns, the ones we need remain);
    a line with the wrong number of fields is a skip entry naming file:line.
    """
    if not path.is_file():
        raise ConversionError(f"{path}: annotation file not found")
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        raise ConversionError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    if not lines or not lines[0].strip():
        raise ConversionError(f"{path}:1: empty file, expected a header {'|'.join(required)}")
    header = [c.strip() for c in lines[0].split("|")]
    missing = [c for c in required if c not in header]
    if missing:
        raise ConversionError(
            f"{path}:1: header {'|'.join(header)!r} lacks column(s) {missing}; "
            f"expected {'|'.join(required)}"
        )
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        report.warn(f"{path}:1: unknown column(s) {unknown} ignored")
    for lineno, line in enumerate(lines[1:], start=2):
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(header):
            report.skip(where, f"malformed line: {len(fields)} fields, header has {len(header)}")
            continue
        yield where, {k: v.strip() for k, v in zip(header, fields, strict=True)}


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file or folder name, or None if it can.

    Clip ids name the frames folder, the video and the pose files of a clip, so
    an id that is empty, has a path separator or NUL, or is longer than a file
    name may be (255 bytes) is rejected when the annotation is read, not when an
    OS call fails deep inside the conversion.
    """
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    if any(c in name for c in "/\\\x00"):
        return f"{name[:60]!r} contains '/', '\\' or NUL"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > 255:
        return f"{name[:20]!r}... is {size} bytes, longer than a file name may be (255)"
    return None


def dir_exists(path: Path) -> bool:
    """``path.is_dir()``, but False (not OSError) for a path the OS cannot name."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def file_exists(path: Path) -> bool:
    """``path.is_file()``, but False (not OSError) for a path the OS cannot name."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def natural_key(name: str) -> list:
    """'images10.png' sorts after 'images9.png' even without zero padding."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_frames(frames_dir: Path) -> list[Path]:
    """Image files of a frames folder in frame order."""
    files = [p for p in frames_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def load_rgb_frames(paths: list[Path], size: int) -> np.ndarray:
    """uint8 [T, size, size, 3]; frames are squashed to a square (Video2Pose input).

    A file PIL cannot decode raises ConversionError naming it. PIL reports damage
    as more than OSError: a PNG chunk length pointing into the pixel data raises
    SyntaxError ("broken PNG file"), and some decoders raise ValueError, EOFError,
    struct.error, zlib.error or DecompressionBombError.
    """
    import struct
    import zlib

    from PIL import Image

    damaged = (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        zlib.error,
        Image.DecompressionBombError,
    )
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                out[i] = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))
        except damaged as e:
            raise ConversionError(f"{p}: unreadable image ({type(e).__name__}: {e})") from None
    return out


def normalize_gloss_token(token: str) -> str:
    """A gloss with inner spaces (ASLLRP classifiers) becomes one token."""
    return "_".join(token.split())
