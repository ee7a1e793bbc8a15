"""ASLLRP continuous ASL (SignStream XML and DAI 2 XML export) -> ClipSources.

``--root`` holds ``*.xml`` files (searched recursively) and the media:
``frames/<key>/*.jpg`` or ``videos/<key>.{mp4,mov,avi,webm}``, ``<key>`` being
the utterance clip id (utterance-level media) or the video stem (whole video,
then the utterance window is cut out); poses follow ``pose_files`` with the
same key. Both formats give sign-level timing, so every clip carries
``gloss_spans`` ([start, end) frames relative to the utterance start), the input
GlossAlign uses (SPEC section 5).

SignStream XML (``<SIGNSTREAM-DATABASE>``, as distributed with NCSLGR), what we rely on::

    <CODING-SCHEME><FIELD ID="10000" LABEL="main gloss" NAME="main gloss"/>
                   <FIELD ID="20001" LABEL="english" NAME="English translation"/></CODING-SCHEME>
    <PARTICIPANTS><PARTICIPANT ID="0" LABEL="Mike" NAME="..."/></PARTICIPANTS>
    <MEDIA-FILES><MEDIA-FILE ID="478" LEGACY-PATH="New coding:109_483_master_small.mov"/>
    <UTTERANCES><UTTERANCE ID="35" S="128033" E="131600">       (ms in the video)
        <MEDIA-REF ID="478"/>
        <SEGMENT PARTICIPANT-ID="0"><TRACK FID="10000">
            <A S="100" E="267">(1h)HAVE</A>                        (ms from utterance start)
            <A S="1166" E="2766" VID="400000"/>                    (HOLD marker: no text, ignored)

Field ids are looked up by their label, not hard-coded. ms become frames at
``fps`` (30 by default): frame = round(ms * fps / 1000). clip id =
``<xml stem>-<utterance ID>``.

DAI 2 XML export (any other root). Assumed layout (we have no public sample;
each value may be an attribute or a child element of the same name)::

    <UTTERANCE ID="..." VIDEO_FILE="..." SIGNER="..." START_FRAME="1200" END_FRAME="1320">
        <TRANSLATION>English sentence</TRANSLATION>
        <MANUALS><SIGN LABEL="IX-1p">
            <DOMINANT_HAND START_FRAME="1210" END_FRAME="1225"/>
            <NON_DOMINANT_HAND .../></SIGN> ...</MANUALS>

Frame numbers are of the video and inclusive; a sign's span is its dominant
hand's (else the SIGN's own START_FRAME/END_FRAME, else the non-dominant
hand's), minus the utterance START_FRAME. clip id = ``<VIDEO stem>-<ID>``.

There is no official split: ``<root>/splits.txt`` (``name|split``) is used if
present, else a stable hash of the clip id (80 % train, 10 % dev, 10 % test).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np

from data_pipelines.datasets.common import (
    SPLITS,
    ClipSource,
    ConversionError,
    Report,
    normalize_gloss_token,
    read_pipe_table,
)

DEFAULT_FPS = 30.0
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm")


def hash_split(clip_id: str) -> str:
    bucket = zlib.crc32(clip_id.encode("utf-8")) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        line, col = e.position
        raise ConversionError(f"{path}:{line}:{col}: malformed XML ({e})") from None


def _get(el: ET.Element, *names: str) -> str | None:
    """Attribute or child-element text of the first name present."""
    for n in names:
        if n in el.attrib:
            return el.attrib[n].strip()
        child = el.find(n)
        if child is not None and child.text is not None:
            return child.text.strip()
    return None


def _media(root: Path, clip_id: str, video_stem: str, window: tuple[int, int]) -> dict:
    """Where to read an utterance: its own media, else the whole video's window."""
    for key, frame_range in ((clip_id, None), (video_stem, window)):
        if not key:
            continue
        frames = root / "frames" / key
        videos = [root / "videos" / f"{key}{s}" for s in VIDEO_SUFFIXES]
        video = next((v for v in videos if v.is_file()), None)
        if frames.is_dir() or video is not None:
            return {
                "media_key": key,
                "frames_dir": frames if frames.is_dir() else None,
                "video_path": video,
                "frame_range": frame_range,
            }
    return {"media_key": clip_id}


def _signstream(path: Path, xml: ET.Element, fps: float, report: Report) -> list[dict]:
    fields = {
        (f.get("LABEL") or f.get("NAME") or "").lower(): f.get("ID") for f in xml.iter("FIELD")
    }
    gloss_fid = fields.get("main gloss")
    if gloss_fid is None:
        raise ConversionError(f"{path}: no FIELD labelled 'main gloss' in CODING-SCHEME")
    english_fid = fields.get("english") or fields.get("english translation")
    signers = {p.get("ID"): p.get("LABEL") or p.get("NAME") or "" for p in xml.iter("PARTICIPANT")}
    media = {
        m.get("ID"): m.get("LEGACY-PATH") or m.get("PATH") or "" for m in xml.iter("MEDIA-FILE")
    }
    out = []
    for utt in xml.iter("UTTERANCE"):
        uid = utt.get("ID", "?")
        where = f"{path} UTTERANCE ID={uid}"
        try:
            start_ms, end_ms = int(utt.get("S", "")), int(utt.get("E", ""))
        except ValueError:
            report.skip(where, "malformed utterance: S/E are not integer ms")
            continue
        ref = utt.find("MEDIA-REF")
        legacy = media.get(ref.get("ID") if ref is not None else None, "")
        video_stem = Path(legacy.replace(":", "/")).stem if legacy else ""
        seg = utt.find("SEGMENT")
        signer = signers.get(seg.get("PARTICIPANT-ID") if seg is not None else None, "unknown")
        signs, translation = [], ""
        for track in utt.iter("TRACK"):
            if track.get("FID") == english_fid:
                translation = " ".join((a.text or "").strip() for a in track.iter("A")).strip()
            if track.get("FID") != gloss_fid:
                continue
            for a in track.iter("A"):
                if not (a.text or "").strip():
                    continue  # HOLD / ONSET / OFFSET markers carry no gloss
                try:
                    s, e = int(a.get("S", "")), int(a.get("E", ""))
                except ValueError:
                    signs = None
                    break
                signs.append((a.text, s * fps / 1000.0, e * fps / 1000.0))
            if signs is None:
                break
        if signs is None:
            report.skip(where, "malformed sign: S/E of a main gloss A are not integer ms")
            continue
        out.append(
            {
                "id": f"{path.stem}-{uid}",
                "where": where,
                "signer": signer,
                "video_stem": video_stem,
                "window": (round(start_ms * fps / 1000), round(end_ms * fps / 1000)),
                "translation": translation,
                "signs": sorted(signs, key=lambda t: t[1]),
            }
        )
    return out


def _dai(path: Path, xml: ET.Element, report: Report) -> list[dict]:
    out = []
    for utt in xml.iter("UTTERANCE"):
        uid = _get(utt, "ID") or "?"
        where = f"{path} UTTERANCE ID={uid}"
        try:
            start = int(_get(utt, "START_FRAME") or "")
            end = int(_get(utt, "END_FRAME") or "") + 1  # inclusive -> exclusive
        except ValueError:
            report.skip(where, "malformed utterance: START_FRAME/END_FRAME missing or not integers")
            continue
        video = _get(utt, "VIDEO_FILE", "VIDEO", "MEDIA") or ""
        signs = []
        for k, sign in enumerate(utt.iter("SIGN")):
            label = _get(sign, "LABEL", "GLOSS")
            timed = [sign.find("DOMINANT_HAND"), sign, sign.find("NON_DOMINANT_HAND")]
            span = None
            for el in timed:
                if el is None:
                    continue
                s, e = _get(el, "START_FRAME"), _get(el, "END_FRAME")
                if (
                    s is not None
                    and e is not None
                    and s.lstrip("-").isdigit()
                    and e.lstrip("-").isdigit()
                ):
                    span = (int(s) - start, int(e) + 1 - start)
                    break
            if not label or span is None:
                signs = None
                report.skip(where, f"malformed sign #{k}: needs LABEL and START_FRAME/END_FRAME")
                break
            signs.append((label, *span))
        if signs is None:
            continue
        video_stem = Path(video.replace("\\", "/")).stem if video else ""
        out.append(
            {
                "id": f"{video_stem or path.stem}-{uid}",
                "where": where,
                "signer": _get(utt, "SIGNER", "PARTICIPANT") or "unknown",
                "video_stem": video_stem,
                "window": (start, end),
                "translation": _get(utt, "TRANSLATION", "ENGLISH_TRANSLATION") or "",
                "signs": sorted(signs, key=lambda t: t[1]),
            }
        )
    return out


def _to_clip(u: dict, root: Path, split: str, fps: float, report: Report) -> ClipSource | None:
    start, end = u["window"]
    if end <= start:
        report.skip(
            u["id"], f"zero-length clip: utterance ends before it starts ({u['where']})", split
        )
        return None
    if not u["signs"]:
        report.skip(u["id"], f"empty gloss sequence: no main-gloss signs ({u['where']})", split)
        return None
    spans = np.array([[round(s), max(round(e), round(s) + 1)] for _, s, e in u["signs"]], np.int32)
    if spans.min() < 0:
        report.skip(u["id"], f"gloss span before the utterance start ({u['where']})", split)
        return None
    return ClipSource(
        clip_id=u["id"],
        split=split,
        dataset="asllrp",
        signer=u["signer"],
        fps=fps,
        gloss=" ".join(normalize_gloss_token(g) for g, _, _ in u["signs"]),
        translation=u["translation"],
        gloss_spans=spans,
        expected_frames=end - start,
        where=u["where"],
        **_media(root, u["id"], u["video_stem"], (start, end)),
    )


def list_clips(root: Path, report: Report, fps: float = DEFAULT_FPS) -> dict[str, list[ClipSource]]:
    root = Path(root)
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    if not files:
        raise ConversionError(f"{root}: no *.xml annotation files found")
    overrides: dict[str, str] = {}
    if (root / "splits.txt").is_file():
        for where, row in read_pipe_table(root / "splits.txt", ("name", "split"), report):
            if row["split"] not in SPLITS:
                report.skip(where, f"unknown split {row['split']!r}, expected one of {SPLITS}")
                continue
            overrides[row["name"]] = row["split"]
    out: dict[str, list[ClipSource]] = {s: [] for s in SPLITS}
    seen: dict[str, str] = {}
    for path in files:
        xml = parse_xml(path)
        if xml.tag == "SIGNSTREAM-DATABASE":
            utterances = _signstream(path, xml, fps, report)
        else:
            utterances = _dai(path, xml, report)
        if not utterances and xml.find(".//UTTERANCE") is None:
            report.warn(f"{path}: no UTTERANCE elements (root <{xml.tag}>)")
        for u in utterances:
            if u["id"] in seen:
                report.skip(u["id"], f"duplicate utterance id (first at {seen[u['id']]})")
                continue
            seen[u["id"]] = u["where"]
            split = overrides.get(u["id"], hash_split(u["id"]))
            clip = _to_clip(u, root, split, fps, report)
            if clip is not None:
                out[split].append(clip)
    return out
