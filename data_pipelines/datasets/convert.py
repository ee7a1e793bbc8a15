"""ClipSource -> Clip record, and one dataset's full conversion to pose shards.

``convert(dataset, root, out, ...)`` writes, in ``out``::

    <split>-*.tfrecord, <split>.manifest.json   (signx_jax.data.shards.write_split)
    vocab.json                                  gloss vocabulary of the train split
    skipped.json                                every skipped record + reason, warnings,
                                                converted records with a warning + reason

The number of frames T of a clip comes from its pose files if any, else its
frames folder, else its video (OpenCV); a ``frame_range`` then cuts the clip
out of that sequence. Poses and frames must agree on T (else the clip is
skipped: a silent off-by-one would misalign every gloss span).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_pipelines.datasets import asllrp, csl_daily, phoenix, pose_files, wlasl
from data_pipelines.datasets.common import (
    ClipSource,
    ConversionError,
    Report,
    list_frames,
    load_rgb_frames,
)
from signx_jax.schema import STREAM_DIMS, STREAM_NAMES, validate_clip

DATASETS = ("phoenix2014t", "phoenix2014", "csl_daily", "wlasl", "asllrp")


def list_dataset(dataset: str, root: Path, report: Report, **kwargs) -> dict[str, list[ClipSource]]:
    if dataset == "phoenix2014t":
        return phoenix.list_clips_2014t(root, report)
    if dataset == "phoenix2014":
        return phoenix.list_clips_2014(root, report)
    if dataset == "csl_daily":
        return csl_daily.list_clips(root, report)
    if dataset == "wlasl":
        return wlasl.list_clips(root, report, num_classes=kwargs.get("num_classes"))
    if dataset == "asllrp":
        return asllrp.list_clips(root, report)
    raise ConversionError(f"unknown dataset {dataset!r}, expected one of {DATASETS}")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ConversionError("reading videos needs `pip install opencv-python-headless`") from None
    return cv2


def video_num_frames(path: Path) -> int:
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ConversionError(f"{path}: OpenCV cannot open this video")
    n = 0
    while cap.grab():  # CAP_PROP_FRAME_COUNT is an estimate for many containers
        n += 1
    cap.release()
    return n


def video_rgb(path: Path, start: int, end: int, size: int) -> np.ndarray:
    """uint8 [end - start, size, size, 3] from a video file."""
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ConversionError(f"{path}: OpenCV cannot open this video")
    frames, i = [], 0
    while i < end and cap.grab():
        if i >= start:
            ok, bgr = cap.retrieve()
            if not ok:
                break
            frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (size, size)))
        i += 1
    cap.release()
    if len(frames) != end - start:
        raise ConversionError(f"{path}: decoded {len(frames)} frames, expected {end - start}")
    return np.stack(frames).astype(np.uint8)


def materialize(
    src: ClipSource,
    poses_root: Path | None,
    rgb_size: int | None = None,
    max_frames: int | None = None,
    report: Report | None = None,
) -> dict:
    """Read one clip; raises ConversionError (naming the clip) to have it skipped."""
    frames = list_frames(src.frames_dir) if src.frames_dir is not None else None
    if frames is not None and not frames:
        raise ConversionError(f"zero-length clip: no image files in {src.frames_dir}")
    try:
        streams = (
            pose_files.find_and_load(poses_root, src.split, src.media_key) if poses_root else {}
        )
    except ConversionError as e:
        raise ConversionError(f"bad pose file: {e}") from None
    if poses_root is not None and not streams:
        raise ConversionError(
            f"no pose files: nothing for {src.media_key!r} under {poses_root} (see pose_files.py)"
        )
    if streams:
        total = next(iter(streams.values()))[0].shape[0]
        if frames is not None and len(frames) != total:
            raise ConversionError(
                f"frame count mismatch: pose files have {total} frames, "
                f"{src.frames_dir} has {len(frames)}"
            )
    elif frames is not None:
        total = len(frames)
    elif src.video_path is not None:
        total = video_num_frames(src.video_path)
    else:
        raise ConversionError("no media: no frames folder, video or pose files found")
    start, end = 0, total
    if src.frame_range is not None:
        start, end = src.frame_range[0], total if src.frame_range[1] is None else src.frame_range[1]
        if not 0 <= start < end <= total:
            raise ConversionError(
                f"frame range outside the media: [{start}, {end}) vs the {total} frames "
                f"of {src.media_key!r}"
            )
    num_frames = end - start
    if num_frames == 0:
        raise ConversionError("zero-length clip: 0 frames")
    if max_frames is not None and num_frames > max_frames:
        raise ConversionError(f"too long: {num_frames} frames > --max_frames {max_frames}")
    if report is not None and src.expected_frames not in (None, num_frames):
        report.warn(
            f"{src.clip_id}: annotation says {src.expected_frames} frames, found {num_frames}"
        )
    poses, presence = {}, np.zeros((num_frames, len(STREAM_NAMES)), bool)
    for k, name in enumerate(STREAM_NAMES):
        if name in streams:
            arr, present = streams[name]
            poses[name], presence[:, k] = arr[start:end], present[start:end]
        else:
            poses[name] = np.zeros((num_frames, STREAM_DIMS[name]), np.float32)
    clip = {
        "clip_id": src.clip_id,
        "dataset": src.dataset,
        "signer": src.signer,
        "fps": float(src.fps),
        "poses": poses,
        "presence": presence,
        "gloss": src.gloss,
        "translation": src.translation,
    }
    if rgb_size:
        if frames is not None:
            clip["rgb"] = load_rgb_frames(frames[start:end], rgb_size)
        elif src.video_path is not None:
            clip["rgb"] = video_rgb(src.video_path, start, end, rgb_size)
        else:
            raise ConversionError("no media: --rgb_size given but no frames folder or video found")
    if src.gloss_spans is not None:
        spans = np.minimum(src.gloss_spans, num_frames)
        if (spans[:, 1] <= spans[:, 0]).any():
            raise ConversionError(
                f"gloss span outside the clip: starts at or after frame {num_frames}"
            )
        clip["gloss_spans"] = spans.astype(np.int32)
    try:
        validate_clip(clip, where=f"{src.dataset}/{src.clip_id}")
    except ValueError as e:
        raise ConversionError(str(e)) from None
    return clip


def iter_records(
    sources: list[ClipSource],
    report: Report,
    poses_root: Path | None,
    rgb_size: int | None,
    max_frames: int | None,
) -> Iterator[dict]:
    """Materialized clips of one split; failures become skip entries."""
    seen: set[str] = set()
    for src in sources:
        if src.clip_id in seen:
            report.skip(src.clip_id, f"duplicate clip id ({src.where})", src.split)
            continue
        seen.add(src.clip_id)
        try:
            yield materialize(src, poses_root, rgb_size, max_frames, report)
        except ConversionError as e:
            report.skip(src.clip_id, f"{e} ({src.where})", src.split)


def convert(
    dataset: str,
    root: str | Path,
    out: str | Path,
    *,
    poses_root: str | Path | None = None,
    rgb_size: int | None = None,
    max_frames: int | None = None,
    records_per_shard: int = 256,
    num_classes: int | None = None,
) -> Report:
    """Convert one dataset; returns the Report (also written to out/skipped.json)."""
    from signx_jax.data import shards
    from signx_jax.data.vocab import Vocabulary

    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise ConversionError(f"{root}: --root is not a directory")
    poses = Path(poses_root) if poses_root is not None else None
    if poses is not None and not poses.is_dir():
        raise ConversionError(f"{poses}: --poses_root is not a directory")
    report = Report(dataset=dataset)
    by_split = list_dataset(dataset, root, report, num_classes=num_classes)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[tuple[str, str]]] = {}  # split -> [(clip_id, gloss)]
    where: dict[tuple[str, str], str] = {}  # (split, clip_id) -> file:line
    for split, sources in by_split.items():
        kept: list[tuple[str, str]] = []
        for src in sources:
            where.setdefault((split, src.clip_id), src.where)  # later duplicates: skipped

        def records(sources=sources, kept=kept):
            for clip in iter_records(sources, report, poses, rgb_size, max_frames):
                kept.append((clip["clip_id"], clip["gloss"]))
                yield clip

        if not sources:
            report.warn(f"split {split!r} has no clips")
            continue
        shards.write_split(
            records(),
            str(out),
            split,
            records_per_shard=records_per_shard,
            extra_manifest={"dataset": dataset, "source": str(root)},
        )
        written[split] = kept
        report.written[split] = len(kept)
    if not written.get("train"):
        report.write(out)
        raise ConversionError(f"{dataset}: no train clip survived; see {out / 'skipped.json'}")
    vocab = Vocabulary.build([gloss for _, gloss in written["train"]], min_count=1)
    vocab.save(str(out / "vocab.json"))
    for split in ("dev", "test"):
        # Kept, not skipped: an unseen gloss is read as <unk>, which is what a
        # fair evaluation must score; each clip is listed so it can be checked.
        oov = []
        for clip_id, gloss in written.get(split, []):
            missing = [g for g in gloss.split() if g not in vocab]
            if missing:
                report.warn_record(
                    clip_id,
                    f"gloss(es) not in the train vocabulary, read as <unk>: "
                    f"{' '.join(missing)} ({where[split, clip_id]})",
                    split,
                )
            oov += missing
        if oov:
            report.warn(
                f"{split}: {len(oov)} gloss token(s) not in the train vocabulary "
                f"({len(set(oov))} types, e.g. {sorted(set(oov))[:5]})"
            )
    report.write(out)
    return report
