"""WLASL (isolated ASL) annotations -> ClipSources (paper Table 4; README "Design").

Layout (``--root`` = the WLASL folder)::

    WLASL_v0.3.json        [{"gloss": "book", "instances": [{bbox, fps, frame_start,
                            frame_end, instance_id, signer_id, source, split, url,
                            variation_id, video_id}, ...]}, ...]
    videos/<video_id>.mp4  as the WLASL start kit downloads them (read with OpenCV)
    frames/<video_id>/*.jpg   optional, pre-extracted frames (preferred over the video)

One clip per instance, ``clip_id`` = ``video_id``; its gloss is the class (one
token, inner spaces joined by ``_``). ``frame_start`` is 1-indexed and
``frame_end`` inclusive, -1 = to the end of the video, so the clip is the
0-indexed window [frame_start - 1, frame_end) of the video / frames / pose
sequence found for ``video_id``. ``split`` "val" is our "dev". WLASL-N
(100/300/1000/2000) is the first N glosses of the json, in file order.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from data_pipelines.datasets.common import (
    SPLITS,
    ClipSource,
    ConversionError,
    Report,
    dir_exists,
    file_exists,
    file_name_problem,
    normalize_gloss_token,
)

SPLIT_ALIASES = {"train": "train", "val": "dev", "dev": "dev", "test": "test"}
REQUIRED_KEYS = ("video_id", "split", "frame_start", "frame_end")


def load_index(path: Path) -> list:
    if not path.is_file():
        raise ConversionError(f"{path}: annotation file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise ConversionError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise ConversionError(f"{path}: invalid JSON ({e})") from None
    except RecursionError:
        raise ConversionError(f"{path}: invalid JSON (nested deeper than Python's stack)") from None
    if not isinstance(data, list):
        raise ConversionError(
            f"{path}: top level is {type(data).__name__}, expected a list of "
            "{gloss, instances} objects"
        )
    return data


def _instance(
    inst: object, gloss: str, where: str, root: Path, report: Report
) -> ClipSource | None:
    if not isinstance(inst, dict):
        report.skip(where, f"malformed instance: {type(inst).__name__}, expected an object")
        return None
    missing = [k for k in REQUIRED_KEYS if k not in inst]
    if missing:
        report.skip(where, f"malformed instance: missing key(s) {missing}")
        return None
    if isinstance(inst["video_id"], bool) or not isinstance(inst["video_id"], (str, int)):
        kind = type(inst["video_id"]).__name__
        report.skip(where, f"malformed instance: video_id is {kind}, expected a string")
        return None
    video_id = str(inst["video_id"])
    problem = file_name_problem(video_id)
    if problem:
        report.skip(where, f"malformed instance: video_id {problem}")
        return None
    raw_split = inst["split"]
    split = SPLIT_ALIASES.get(raw_split.lower()) if isinstance(raw_split, str) else None
    if split is None:
        shown = repr(raw_split) if isinstance(raw_split, str) else type(raw_split).__name__
        report.skip(video_id, f"unknown split {shown} ({where})")
        return None
    try:
        start, end = int(inst["frame_start"]), int(inst["frame_end"])
        fps = float(inst.get("fps", 25) or 25)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity), float(10**400)
        report.skip(
            video_id, f"malformed instance: non-numeric frame_start/frame_end/fps ({where})"
        )
        return None
    if not (math.isfinite(fps) and fps > 0):
        report.skip(video_id, f"malformed instance: fps {fps} is not a positive number ({where})")
        return None
    if start < 1 or (end != -1 and end < start):
        report.skip(
            video_id,
            f"zero-length clip: frame_start={start}, frame_end={end} "
            f"(expected 1 <= start <= end or end = -1) ({where})",
            split,
        )
        return None
    frames_dir = root / "frames" / video_id
    video = root / "videos" / f"{video_id}.mp4"
    signer = inst.get("signer_id", "unknown")
    return ClipSource(
        clip_id=video_id,
        split=split,
        dataset="wlasl",
        signer=str(signer) if isinstance(signer, (str, int)) else "unknown",
        fps=fps,
        gloss=gloss,
        frames_dir=frames_dir if dir_exists(frames_dir) else None,
        video_path=video if file_exists(video) else None,
        frame_range=(start - 1, None if end == -1 else end),
        where=where,
    )


def list_clips(
    root: Path, report: Report, num_classes: int | None = None
) -> dict[str, list[ClipSource]]:
    root = Path(root)
    path = root / "WLASL_v0.3.json"
    entries = load_index(path)
    if num_classes is not None:
        entries = entries[:num_classes]
    out: dict[str, list[ClipSource]] = {s: [] for s in SPLITS}
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict) or "gloss" not in entry or "instances" not in entry:
            report.skip(where, "malformed entry: expected an object with 'gloss' and 'instances'")
            continue
        raw = entry["gloss"]
        gloss = normalize_gloss_token(str(raw)) if isinstance(raw, (str, int)) else ""
        if not gloss or not isinstance(entry["instances"], list):
            report.skip(
                where,
                "malformed entry: empty gloss (or not a string) or 'instances' is not a list",
            )
            continue
        for j, inst in enumerate(entry["instances"]):
            clip = _instance(inst, gloss, f"{where}.instances[{j}]", root, report)
            if clip is None:
                continue
            if clip.clip_id in seen:
                first = seen[clip.clip_id]
                report.skip(clip.clip_id, f"duplicate video_id ({clip.where}; first at {first})")
                continue
            seen[clip.clip_id] = clip.where
            out[clip.split].append(clip)
    return out
