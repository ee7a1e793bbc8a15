"""RWTH-PHOENIX-Weather 2014 and 2014-T annotations -> ClipSources (README "Design").

PHOENIX-2014-T (``--root`` = the folder holding ``PHOENIX-2014-T/`` or that folder)::

    PHOENIX-2014-T/annotations/manual/PHOENIX-2014-T.{train,dev,test}.corpus.csv
        name|video|start|end|speaker|orth|translation     ('|'-separated, one header line)
    PHOENIX-2014-T/features/fullFrame-210x260px/{train,dev,test}/<name>/images0001.png

The ``video`` column says ``<name>/1/*.png`` but the released frames have no
``1/`` level; both are accepted. ``orth`` is the gloss sequence, ``translation``
the German sentence. 7096 / 519 / 642 clips in the release.

PHOENIX-2014 multisigner (``--root`` holds ``phoenix-2014-multisigner/``)::

    phoenix-2014-multisigner/annotations/manual/{train,dev,test}.corpus.csv
        id|folder|signer|annotation
    phoenix-2014-multisigner/features/fullFrame-210x260px/{train,dev,test}/<id>/1/images0001-0.png

Glosses are kept as annotated (``__ON__``, ``loc-``, ``IX`` ...): the
dataset's WER clean-up belongs to the metrics (README "Design"). Both corpora
are recorded at 25 fps.
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

FPS = 25.0
FRAMES_SUBDIR = Path("features") / "fullFrame-210x260px"


def _corpus_dir(root: Path, name: str) -> Path:
    return root if root.name == name else root / name


def resolve_frames_dir(split_dir: Path, video: str, clip_id: str) -> Path | None:
    """Frames folder from the ``video`` glob, with or without its ``1/`` level."""
    folder = video.rsplit("/", 1)[0] if "*" in video else video
    candidates = [split_dir / folder]
    if folder.endswith("/1"):
        candidates.append(split_dir / folder[:-2])
    candidates.append(split_dir / clip_id)
    candidates.append(split_dir / clip_id / "1")
    for c in candidates:
        if dir_exists(c):
            return c
    return None


def _clip(
    root: Path,
    split: str,
    where: str,
    clip_id: str,
    video: str,
    signer: str,
    gloss: str,
    translation: str,
    dataset: str,
    report: Report,
) -> ClipSource | None:
    if not clip_id:
        report.skip(where, "malformed line: empty clip name", split)
        return None
    problem = file_name_problem(clip_id)
    if problem:
        report.skip(where, f"malformed line: clip name {problem}", split)
        return None
    if not gloss.split():
        report.skip(clip_id, f"empty gloss sequence ({where})", split)
        return None
    split_dir = root / FRAMES_SUBDIR / split
    frames_dir = resolve_frames_dir(split_dir, video, clip_id)
    if frames_dir is None:
        report.skip(clip_id, f"missing frames folder: {split_dir / clip_id} ({where})", split)
        return None
    return ClipSource(
        clip_id=clip_id,
        split=split,
        dataset=dataset,
        signer=signer,
        fps=FPS,
        gloss=" ".join(gloss.split()),
        translation=translation,
        frames_dir=frames_dir,
        where=where,
    )


def list_clips_2014t(root: Path, report: Report) -> dict[str, list[ClipSource]]:
    base = _corpus_dir(Path(root), "PHOENIX-2014-T")
    out: dict[str, list[ClipSource]] = {}
    cols = ("name", "video", "start", "end", "speaker", "orth", "translation")
    for split in SPLITS:
        path = base / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
        clips = []
        for where, row in read_pipe_table(path, cols, report):
            clip = _clip(
                base,
                split,
                where,
                row["name"],
                row["video"],
                row["speaker"],
                row["orth"],
                row["translation"],
                "phoenix2014t",
                report,
            )
            if clip is not None:
                clips.append(clip)
        out[split] = clips
    return out


def list_clips_2014(root: Path, report: Report) -> dict[str, list[ClipSource]]:
    base = _corpus_dir(Path(root), "phoenix-2014-multisigner")
    out: dict[str, list[ClipSource]] = {}
    for split in SPLITS:
        path = base / "annotations" / "manual" / f"{split}.corpus.csv"
        clips = []
        for where, row in read_pipe_table(path, ("id", "folder", "signer", "annotation"), report):
            clip = _clip(
                base,
                split,
                where,
                row["id"],
                row["folder"],
                row["signer"],
                row["annotation"],
                "",
                "phoenix2014",
                report,
            )
            if clip is not None:
                clips.append(clip)
        out[split] = clips
    return out
