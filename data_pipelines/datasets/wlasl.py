"""WLASL (isolated ASL) annotations -> ClipSources (SPEC section 1 and 9).

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
from pathlib import Path

from data_pipelines.datasets.common import (
    SPLITS,
    ClipSource,
    ConversionError,
    Report,
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
    video_id = str(inst["video_id"])
    split = SPLIT_ALIASES.get(str(inst["split"]).lower())
    if split is None:
        report.skip(video_id, f"unknown split {inst['split']!r} ({where})")
        return None
    try:
        start, end = int(inst["frame_start"]), int(inst["frame_end"])
        fps = float(inst.get("fps", 25) or 25)
    except (TypeError, ValueError):
        report.skip(
            video_id, f"malformed instance: non-numeric frame_start/frame_end/fps ({where})"
        )
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
    return ClipSource(
        clip_id=video_id,
        split=split,
        dataset="wlasl",
        signer=str(inst.get("signer_id", "unknown")),
        fps=fps,
        gloss=gloss,
        frames_dir=frames_dir if frames_dir.is_dir() else None,
        video_path=video if video.is_file() else None,
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
        gloss = normalize_gloss_token(str(entry["gloss"]))
        if not gloss or not isinstance(entry["instances"], list):
            report.skip(where, "malformed entry: empty gloss or 'instances' is not a list")
            continue
        for j, inst in enumerate(entry["instances"]):
            clip = _instance(inst, gloss, f"{where}.instances[{j}]", root, report)
            if clip is None:
                continue
            if clip.clip_id in seen:
                report.skip(clip.clip_id, f"duplicate video_id (first at {seen[clip.clip_id]})")
                continue
            seen[clip.clip_id] = clip.where
            out[clip.split].append(clip)
    return out
