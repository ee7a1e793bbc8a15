"""ASLLRP continuous ASL (SignStream XML and the DAI 2 XML export) -> ClipSources.

``--root`` holds the ``*.xml`` files (searched recursively; a DAI download is one zip
per collection holding ``xml_extract_*.xml``, a ``.ssc`` file and a zip of videos:
unzip them) and the media, ``frames/<key>/*.jpg`` or ``videos/<key>.{mp4,mov,avi,webm}``.
``<key>`` is tried in this order: the clip id (media already cut to the utterance),
then the names of the whole recording, whose utterance window is then cut out: for
SignStream the stem of each MEDIA-REF's file, for DAI the COLLECTION NAME, then each
MEDIA-FILE's stem. Poses follow ``pose_files`` with the same key. Both formats time
every sign, so every clip carries ``gloss_spans`` ([start, end) frames relative to the
utterance start), the input GlossAlign uses (paper Algorithm 1).

No sample ships with this repository; each layout below was checked against public
material and the fixtures copy it.

SignStream 2 XML (``<SIGNSTREAM-DATABASE>``, the NCSLGR corpus). Checked against the
NCSLGR files themselves (``accident.xml`` ... as copied into the public repository
mnixling/ASL_CCG, ``ncslgr-xml/``) and against the element / attribute names read by
Christian Vogler's ``signstream-xmlparser`` (the ASLLRP's reference reader)::

    <CODING-SCHEME><FIELD ID="10000" LABEL="main gloss" NAME="main gloss">
                   <FIELD ID="20001" LABEL="english" NAME="English translation">
    <PARTICIPANTS><PARTICIPANT ID="0" LABEL="Mike" NAME="Michael Schlang" .../>
    <MEDIA-FILES><MEDIA-FILE ID="478"
                  LEGACY-PATH="NCSLGR:Movies-from-CDs:...:accident:accident_1065_small_0.mov"/>
    <UTTERANCES><UTTERANCE ID="35" S="128033" E="131600" EXCERPT="...">   (ms in the video)
        <MEDIA-REF ID="478"/><MEDIA-REF ID="479"/>                       (one per camera)
        <SEGMENT PARTICIPANT-ID="0"><TRACK FID="10000">
            <A S="100" E="267">(1h)HAVE</A>                  (ms from the utterance start)
            <A S="2300" E="3366" VID="400000"/>              (HOLD/ONSET/OFFSET: no text, ignored)

Times are ms on a 30 fps timeline (every value is a multiple of 33.3 ms) and S / E are
the times of the first and the last frame: adjacent track values tile as
[0, 2400], [2433, 3533], ..., and an utterance's last sign ends at its E. So
frame = round(ms * fps / 1000) (``fps`` 30 by default) and [S, E] covers frames
[frame(S), frame(E) + 1). (One public notebook found the NCSLGR videos it downloaded
to last half of that timeline, i.e. 60 fps video; the frame index is the same either
way, only the clip's ``fps`` field would then be 2x too low.) Field ids are looked up by
label, not hard-coded. clip id = ``<xml stem>-<utterance ID>``.

DAI 2 export (``<SIGNSTREAM_DAI>``, SignStream 3 annotations). No export file was found
in public; the layout is the one two independent public projects that read real DAI
downloads put in their fixtures and parsers (they agree)::

    <SIGNSTREAM_DAI AUTHOR="BOSTON UNIVERSITY" DOWNLOAD_DATE="..."><COLLECTIONS>
      <COLLECTION ID="1379840" NAME="Cory_2013-6-27_sc107">
        <MEDIA-FILES><MEDIA-FILE ID="..." FILE-NAME="2013-06-27_CB_0107-cam1-for-ss3.mp4"/>
        <TEMPORAL-PARTITIONS><TEMPORAL-PARTITION><SEGMENT-TIERS><SEGMENT-TIER>
          <PARTICIPANT>'Cory'</PARTICIPANT>
          <UTTERANCES><UTTERANCE ID="627" START_FRAME="36" END_FRAME="221">
            <TRANSLATION>'The mouse escapes and the cat runs after it.'</TRANSLATION>
            <MANUALS><SIGN ID="269261"><LABEL>'MOUSE/FICTION'</LABEL>
                <DOMINANT_HAND START_FRAME="46" END_FRAME="55"/></SIGN>
              <SIGN ...><LABEL>...</LABEL><NON_DOMINANT_HAND START_FRAME=".." END_FRAME=".."/>

Text values are wrapped in single quotes (removed here); the signer is the PARTICIPANT
of the SEGMENT-TIER. Frame numbers are of the collection's video and inclusive; a
sign's span is its dominant hand's, else the SIGN's own START_FRAME/END_FRAME, else the
non-dominant hand's, minus the utterance START_FRAME. An utterance with a sign that has
no frames is skipped (spans must cover every gloss). Not verified: whether frames count
from 0 or 1 (it matters only when the window is cut from a whole video: 0 assumed) and
the videos' frame rate (30 assumed). clip id = ``<COLLECTION NAME>-<utterance ID>``.
Each value may be an attribute or a child element of the same name; a file with no
COLLECTION (or no SEGMENT-TIER) is read as one, named after the file.

Times are integers of magnitude below 10^9 (ms or frames), else the utterance is
malformed. An utterance is skipped when its clip id cannot be a file name, or repeats
the id of a clip already converted (a skipped one does not hide a later good one).

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
    dir_exists,
    file_exists,
    file_name_problem,
    normalize_gloss_token,
    read_pipe_table,
)

DEFAULT_FPS = 30.0
MAX_TIME = 10**9  # |ms| or |frame| above this is not a time (and overflows int32 spans)
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
    except (LookupError, ValueError) as e:  # encoding='bogus' / 'rot13' / 'shift_jis' / 'idna'
        raise ConversionError(f"{path}:1: unusable XML encoding declaration ({e})") from None


def _unquote(text: str) -> str:
    """The DAI wraps text values in single quotes: ``'BOOK'`` -> ``BOOK``."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1].strip()
    return text


def _get(el: ET.Element, *names: str) -> str | None:
    """Attribute or child-element text of the first name present, unquoted."""
    for n in names:
        if n in el.attrib:
            return _unquote(el.attrib[n])
        child = el.find(n)
        if child is not None and child.text is not None:
            return _unquote(child.text)
    return None


def _int(text: str | None) -> int | None:
    """An integer time, or None if ``text`` is none (or absurdly large: MAX_TIME)."""
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is None or abs(value) < MAX_TIME else None


def _stem(path: str) -> str:
    """File stem of a Mac (``a:b:c.mov``), Windows or POSIX path."""
    return Path(path.replace(":", "/").replace("\\", "/")).stem if path else ""


def _media(root: Path, clip_id: str, video_keys: list[str], window: tuple[int, int]) -> dict:
    """Where to read an utterance: its own media, else the first whole video found."""
    candidates = [(clip_id, None)] + [(k, window) for k in video_keys if k]
    for key, frame_range in candidates:
        if file_name_problem(key):  # e.g. '..' from a MEDIA-FILE path
            continue
        frames = root / "frames" / key
        videos = [root / "videos" / f"{key}{s}" for s in VIDEO_SUFFIXES]
        video = next((v for v in videos if file_exists(v)), None)
        if dir_exists(frames) or video is not None:
            return {
                "media_key": key,
                "frames_dir": frames if dir_exists(frames) else None,
                "video_path": video,
                "frame_range": frame_range,
            }
    return {"media_key": clip_id}


def _signstream(path: Path, xml: ET.Element, fps: float, report: Report) -> list[dict]:
    fields: dict[str, str] = {}  # label -> ID of the first FIELD with that label and an ID
    for f in xml.iter("FIELD"):
        if f.get("ID") is not None:
            fields.setdefault((f.get("LABEL") or f.get("NAME") or "").lower(), f.get("ID"))
    gloss_fid = fields.get("main gloss")
    if gloss_fid is None:
        raise ConversionError(
            f"{path}: no FIELD labelled 'main gloss' (with an ID) in CODING-SCHEME"
        )
    english_fid = fields.get("english") or fields.get("english translation")
    signers = {p.get("ID"): p.get("LABEL") or p.get("NAME") or "" for p in xml.iter("PARTICIPANT")}
    media = {
        m.get("ID"): m.get("LEGACY-PATH") or m.get("PATH") or "" for m in xml.iter("MEDIA-FILE")
    }

    def frame(ms: int) -> int:  # S / E are the times of the first / last frame
        return round(ms * fps / 1000)

    out = []
    for utt in xml.iter("UTTERANCE"):
        uid = utt.get("ID", "?")
        where = f"{path} UTTERANCE ID={uid}"
        start_ms, end_ms = _int(utt.get("S")), _int(utt.get("E"))
        if start_ms is None or end_ms is None:
            report.skip(where, "malformed utterance: S/E are not integer ms")
            continue
        start = frame(start_ms)
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
                s, e = _int(a.get("S")), _int(a.get("E"))
                if s is None or e is None:
                    signs = None
                    break
                span = (frame(start_ms + s) - start, frame(start_ms + e) + 1 - start)
                signs.append((a.text, *span))
            if signs is None:
                break
        if signs is None:
            report.skip(where, "malformed sign: S/E of a main gloss A are not integer ms")
            continue
        refs = [media.get(r.get("ID"), "") for r in utt.findall("MEDIA-REF")]
        out.append(
            {
                "id": f"{path.stem}-{uid}",
                "where": where,
                "signer": signer,
                "video_keys": [_stem(r) for r in refs],
                "window": (start, frame(end_ms) + 1),
                "translation": translation,
                "signs": signs,
            }
        )
    return out


def _dai_signs(utt: ET.Element, start: int) -> list[tuple[str, int, int]] | str:
    """(label, start, end) per SIGN relative to ``start``, or the reason it cannot."""
    signs = []
    for k, sign in enumerate(utt.iter("SIGN")):
        label = _get(sign, "LABEL")
        span = None
        for el in (sign.find("DOMINANT_HAND"), sign, sign.find("NON_DOMINANT_HAND")):
            if el is None:
                continue
            s, e = _int(_get(el, "START_FRAME")), _int(_get(el, "END_FRAME"))
            if s is not None and e is not None:
                span = (s - start, e + 1 - start)  # inclusive -> exclusive
                break
        if not label or span is None:
            return (
                f"malformed sign #{k}: needs LABEL and START_FRAME/END_FRAME "
                "(on DOMINANT_HAND, the SIGN or NON_DOMINANT_HAND)"
            )
        signs.append((label, *span))
    return signs


def _media_stems(el: ET.Element) -> list[str]:
    return [_stem(_get(m, "FILE-NAME", "PATH") or "") for m in el.iter("MEDIA-FILE")]


def _dai(path: Path, xml: ET.Element, report: Report) -> list[dict]:
    """Every UTTERANCE, once, in document order, with its nearest COLLECTION (name,
    media; else the file's) and SEGMENT-TIER (signer) around it."""
    out = []
    stack = [(xml, path.stem, _media_stems(xml), None)]
    while stack:
        el, name, media, tier_signer = stack.pop()
        if el.tag == "COLLECTION":
            name, media = _get(el, "NAME") or path.stem, _media_stems(el)
        elif el.tag == "SEGMENT-TIER":
            tier_signer = _get(el, "PARTICIPANT")
        stack.extend((child, name, media, tier_signer) for child in reversed(el))
        if el.tag != "UTTERANCE":
            continue
        uid = _get(el, "ID") or "?"
        where = f"{path} UTTERANCE ID={uid}"
        start, end = _int(_get(el, "START_FRAME")), _int(_get(el, "END_FRAME"))
        if start is None or end is None:
            report.skip(where, "malformed utterance: START_FRAME/END_FRAME missing or not integers")
            continue
        signs = _dai_signs(el, start)
        if isinstance(signs, str):
            report.skip(where, signs)
            continue
        out.append(
            {
                "id": f"{name}-{uid}",
                "where": where,
                "signer": tier_signer or _get(el, "PARTICIPANT") or "unknown",
                "video_keys": [name, *media],
                "window": (start, end + 1),  # inclusive -> exclusive
                "translation": _get(el, "TRANSLATION") or "",
                "signs": signs,
            }
        )
    return out


def _to_clip(u: dict, root: Path, split: str, fps: float, report: Report) -> ClipSource | None:
    problem = file_name_problem(u["id"])
    if problem:
        report.skip(u["where"], f"malformed utterance: clip id {problem}", split)
        return None
    start, end = u["window"]
    if end <= start:
        report.skip(
            u["id"], f"zero-length clip: utterance ends before it starts ({u['where']})", split
        )
        return None
    if not u["signs"]:
        report.skip(u["id"], f"empty gloss sequence: no main-gloss signs ({u['where']})", split)
        return None
    signs = sorted(u["signs"], key=lambda t: t[1])
    spans = np.array([[s, e] for _, s, e in signs], np.int32)
    if spans.min() < 0:
        report.skip(u["id"], f"gloss span before the utterance start ({u['where']})", split)
        return None
    if (spans[:, 1] <= spans[:, 0]).any():
        report.skip(u["id"], f"malformed sign: it ends before it starts ({u['where']})", split)
        return None
    return ClipSource(
        clip_id=u["id"],
        split=split,
        dataset="asllrp",
        signer=u["signer"],
        fps=fps,
        gloss=" ".join(normalize_gloss_token(g) for g, _, _ in signs),
        translation=u["translation"],
        gloss_spans=spans,
        expected_frames=end - start,
        where=u["where"],
        **_media(root, u["id"], u["video_keys"], (start, end)),
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
            split = overrides.get(u["id"], hash_split(u["id"]))
            clip = _to_clip(u, root, split, fps, report)
            if clip is not None:  # a skipped utterance does not hide a later good one
                seen[u["id"]] = u["where"]
                out[split].append(clip)
    return out
