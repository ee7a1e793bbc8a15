"""Issue 9, converters: malformed publisher files give a ConversionError naming
the file (and line), or a skip entry naming file:line / the record and why.

At least ten malformed inputs per converter; tests/data_pipelines/ covers the
happy paths and a few of these. At the end, unreadable media end to end: a damaged
frame image or video skips its clip (file + reason in skipped.json), the rest convert.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from data_pipelines.datasets import asllrp, csl_daily, phoenix, wlasl
from data_pipelines.datasets.common import ConversionError, Report


def _run(list_clips, root: Path) -> Report:
    report = Report()
    list_clips(root, report)
    return report


def _check(list_clips, root: Path, expect: tuple[str, str]) -> None:
    """``expect`` = ("error", regex) or ("skip", regex over 'record: reason')."""
    kind, pattern = expect
    if kind == "error":
        with pytest.raises(ConversionError, match=pattern):
            _run(list_clips, root)
        return
    report = _run(list_clips, root)
    entries = [f"{s['record']}: {s['reason']}" for s in report.skipped]
    entries += [f"warning: {w}" for w in report.warnings]
    assert any(re.search(pattern, e) for e in entries), entries


# -- PHOENIX-2014-T ---------------------------------------------------------------------

P14T_HEADER = "name|video|start|end|speaker|orth|translation"
P14T_CASES = {
    "empty_file": ("", ("error", r"train\.corpus\.csv:1: empty file")),
    "no_header_columns": ("name|video\nx|y", ("error", r"csv:1: header .* lacks column")),
    "too_few_fields": (f"{P14T_HEADER}\na|b|c", ("skip", r"csv:2: malformed line: 3 fields")),
    "too_many_fields": (f"{P14T_HEADER}\n" + "|".join("abcdefgh"), ("skip", r"csv:2: .*8 fields")),
    "empty_name": (f"{P14T_HEADER}\n|v/*.png|-1|-1|S1|A B|t", ("skip", r"csv:2: .*empty clip name")),  # noqa: E501
    "empty_gloss": (f"{P14T_HEADER}\nc1|c1/*.png|-1|-1|S1|  |t", ("skip", r"c1: empty gloss.*csv:2")),  # noqa: E501
    "missing_frames": (f"{P14T_HEADER}\nc2|c2/*.png|-1|-1|S1|A|t", ("skip", r"c2: missing frames.*csv:2")),  # noqa: E501
    "third_line_bad": (f"{P14T_HEADER}\n\n|x", ("skip", r"csv:3: malformed line")),
    "unknown_column": (f"{P14T_HEADER}|extra", ("skip", r"warning: .*csv:1: unknown column")),
    "tabs_not_pipes": ("\t".join(P14T_HEADER.split("|")), ("error", r"csv:1: header .* lacks")),
    "not_utf8": (b"name|video\xff", ("error", r"csv")),
}  # fmt: skip


@pytest.mark.parametrize(
    "content, expect",
    [pytest.param(*v, id=k) for k, v in P14T_CASES.items()],
)  # fmt: skip
def test_phoenix_malformed(tmp_path, content, expect):
    ann = tmp_path / "PHOENIX-2014-T" / "annotations" / "manual"
    ann.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        data = content if split == "train" else P14T_HEADER
        path = ann / f"PHOENIX-2014-T.{split}.corpus.csv"
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    _check(phoenix.list_clips_2014t, tmp_path, expect)


def test_phoenix_missing_annotation_file(tmp_path):
    with pytest.raises(ConversionError, match=r"train\.corpus\.csv: annotation file not found"):
        _run(phoenix.list_clips_2014t, tmp_path)


# -- CSL-Daily -----------------------------------------------------------------------------

VM_HEADER = "index|name|length|gloss|char|word|postag"
CSL_CASES = {
    "split_empty": ("", "", ("error", r"split_1\.txt:1: empty file")),
    "split_no_column": ("name\nS1", "", ("error", r"split_1\.txt:1: header .* lacks")),
    "unknown_split": ("name|split\nS1|training", "", ("skip", r"split_1\.txt:2: unknown split")),
    "duplicate_name": ("name|split\nS1|train\nS1|dev", "", ("skip", r"split_1\.txt:3: duplicate")),
    "map_empty": ("name|split\nS1|train", None, ("error", r"video_map\.txt:1: empty file")),
    "map_fields": ("name|split\nS1|train", "0|S1|4|A", ("skip", r"video_map\.txt:2: malformed line")),  # noqa: E501
    "map_empty_name": ("name|split", "0||4|A|a|a|n", ("skip", r"video_map\.txt:2: .*empty name")),
    "not_in_split": ("name|split", "0|S9|4|A|a|a|n", ("skip", r"S9: not in split_1.txt")),
    "length_nan": ("name|split\nS1|train", "0|S1|abc|A|a|a|n", ("skip", r"S1: .*length 'abc'")),
    "length_zero": ("name|split\nS1|train", "0|S1|0|A|a|a|n", ("skip", r"S1: zero-length.*:2")),
    "empty_gloss": ("name|split\nS1|train", "0|S1|4| |a|a|n", ("skip", r"S1: empty gloss.*:2")),
    "not_utf8": (b"name|split\nS\xe9|train", None, ("error", r"split_1\.txt")),
}  # fmt: skip


@pytest.mark.parametrize(
    "splits, video_map, expect",
    [pytest.param(*v, id=k) for k, v in CSL_CASES.items()],
)  # fmt: skip
def test_csl_daily_malformed(tmp_path, splits, video_map, expect):
    label = tmp_path / "sentence_label"
    label.mkdir()
    (label / "split_1.txt").write_bytes(splits if isinstance(splits, bytes) else splits.encode())
    (label / "video_map.txt").write_text("" if video_map is None else f"{VM_HEADER}\n{video_map}")
    _check(csl_daily.list_clips, tmp_path, expect)


# -- WLASL ---------------------------------------------------------------------------------


def _inst(**kw):
    inst = {"video_id": "v1", "split": "train", "frame_start": 1, "frame_end": -1}
    inst.update(kw)
    return inst


WLASL_CASES = {
    "invalid_json": ('[{"gloss": "book",', ("error", r"WLASL_v0\.3\.json:1:\d+: invalid JSON")),
    "top_level_object": ({"gloss": "book"}, ("error", r"json: top level is dict")),
    "entry_not_object": (["book"], ("skip", r"json\[0\]: malformed entry")),
    "no_instances": ([{"gloss": "book"}], ("skip", r"json\[0\]: malformed entry")),
    "empty_gloss": ([{"gloss": " ", "instances": []}], ("skip", r"json\[0\]: .*empty gloss")),
    "instances_not_list": ([{"gloss": "a", "instances": 3}], ("skip", r"json\[0\]: .*not a list")),
    "instance_not_object": ([{"gloss": "a", "instances": [7]}], ("skip", r"instances\[0\]: .*int")),
    "missing_keys": ([{"gloss": "a", "instances": [{"video_id": "v"}]}], ("skip", r"instances\[0\]: .*missing key")),  # noqa: E501
    "unknown_split": ([{"gloss": "a", "instances": [_inst(split="x")]}], ("skip", r"v1: unknown split 'x'")),  # noqa: E501
    "non_numeric": ([{"gloss": "a", "instances": [_inst(frame_start="one")]}], ("skip", r"v1: .*non-numeric")),  # noqa: E501
    "end_before_start": ([{"gloss": "a", "instances": [_inst(frame_start=9, frame_end=3)]}], ("skip", r"v1: zero-length")),  # noqa: E501
    "duplicate": ([{"gloss": "a", "instances": [_inst(), _inst()]}], ("skip", r"v1: duplicate video_id")),  # noqa: E501
    "not_utf8": (b'[{"gloss": "\xe9"}]', ("error", r"WLASL_v0\.3\.json")),
}  # fmt: skip


@pytest.mark.parametrize(
    "content, expect",
    [pytest.param(*v, id=k) for k, v in WLASL_CASES.items()],
)  # fmt: skip
def test_wlasl_malformed(tmp_path, content, expect):
    path = tmp_path / "WLASL_v0.3.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    _check(wlasl.list_clips, tmp_path, expect)


def test_wlasl_missing_index(tmp_path):
    with pytest.raises(ConversionError, match=r"WLASL_v0\.3\.json: annotation file not found"):
        _run(wlasl.list_clips, tmp_path)


# -- ASLLRP --------------------------------------------------------------------------------

SS_HEAD = ('<SIGNSTREAM-DATABASE><CODING-SCHEME><FIELD ID="1" LABEL="main gloss"/>'
           "</CODING-SCHEME><UTTERANCES>")  # fmt: skip
SS_TAIL = "</UTTERANCES></SIGNSTREAM-DATABASE>"


def _dai(*utterances: str) -> str:
    return "<DAI_EXPORT><UTTERANCES>" + "".join(utterances) + "</UTTERANCES></DAI_EXPORT>"


def _utt(uid="1", start="10", end="20", signs='<SIGN LABEL="A" START_FRAME="11" END_FRAME="12"/>'):
    return f'<UTTERANCE ID="{uid}" START_FRAME="{start}" END_FRAME="{end}">{signs}</UTTERANCE>'


ASLLRP_CASES = {
    "malformed_xml": ("<DAI_EXPORT><UTTERANCE>", ("error", r"a\.xml:1:\d+: malformed XML")),
    "no_main_gloss": ("<SIGNSTREAM-DATABASE><UTTERANCES/></SIGNSTREAM-DATABASE>", ("error", r"a\.xml: no FIELD labelled 'main gloss'")),  # noqa: E501
    "ss_bad_times": (SS_HEAD + '<UTTERANCE ID="7" S="x" E="9"/>' + SS_TAIL, ("skip", r"a\.xml UTTERANCE ID=7: .*S/E are not integer")),  # noqa: E501
    "ss_bad_sign": (SS_HEAD + '<UTTERANCE ID="8" S="0" E="900"><TRACK FID="1"><A S="q" E="5">IX</A></TRACK></UTTERANCE>' + SS_TAIL, ("skip", r"ID=8: malformed sign")),  # noqa: E501
    "ss_no_signs": (SS_HEAD + '<UTTERANCE ID="9" S="0" E="900"/>' + SS_TAIL, ("skip", r"a-9: empty gloss sequence.*ID=9")),  # noqa: E501
    "dai_no_frames": (_dai('<UTTERANCE ID="2"><SIGN LABEL="A"/></UTTERANCE>'), ("skip", r"ID=2: .*START_FRAME/END_FRAME missing")),  # noqa: E501
    "dai_sign_no_label": (_dai(_utt(signs='<SIGN START_FRAME="11" END_FRAME="12"/>')), ("skip", r"ID=1: malformed sign #0")),  # noqa: E501
    "dai_sign_no_time": (_dai(_utt(signs='<SIGN LABEL="A"/>')), ("skip", r"ID=1: malformed sign #0")),  # noqa: E501
    "dai_end_before_start": (_dai(_utt(start="30", end="20")), ("skip", r"zero-length clip.*ID=1")),
    "dai_span_before_start": (_dai(_utt(signs='<SIGN LABEL="A" START_FRAME="2" END_FRAME="12"/>')), ("skip", r"gloss span before the utterance start")),  # noqa: E501
    "duplicate_id": (_dai(_utt(), _utt()), ("skip", r"a-1: duplicate utterance id")),
    "no_utterances": ("<DAI_EXPORT/>", ("skip", r"warning: .*a\.xml: no UTTERANCE elements")),
}  # fmt: skip


@pytest.mark.parametrize("content, expect", list(ASLLRP_CASES.values()), ids=list(ASLLRP_CASES))
def test_asllrp_malformed(tmp_path, content, expect):
    (tmp_path / "a.xml").write_text(content)
    _check(asllrp.list_clips, tmp_path, expect)


def test_asllrp_no_xml_and_bad_split_file(tmp_path):
    with pytest.raises(ConversionError, match=r"no \*\.xml annotation files"):
        _run(asllrp.list_clips, tmp_path)
    (tmp_path / "a.xml").write_text(_dai(_utt()))
    (tmp_path / "splits.txt").write_text("name|split\na-1|validation\n")
    _check(asllrp.list_clips, tmp_path, ("skip", r"splits\.txt:2: unknown split 'validation'"))


# -- Unreadable frames and videos (end to end: convert -> skipped.json) --------------------
#
# Frames and videos are decoded only when the converter reads RGB (--rgb_size), so these
# convert with rgb_size; the damaged clip is skipped with the file and why, the others
# convert, and nothing but the report comes out.


def _png_chunk_length_too_small(data: bytes) -> bytes:
    """IDAT length 8 bytes short: PIL reads the next chunk header from the pixel data
    and raises SyntaxError ('broken PNG file'), not OSError."""
    assert data[37:41] == b"IDAT", data[:41]
    length = int.from_bytes(data[33:37], "big")
    return data[:33] + (length - 8).to_bytes(4, "big") + data[37:]


IMAGE_DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x89PNG\r\n\x1a\n" + bytes(range(7, 250, 3)),
    "empty_file": lambda data: b"",
    "text_file": lambda data: b"this is not an image\n",
}


def _convert_and_read(dataset: str, src: Path, out: Path) -> tuple[dict, dict]:
    """convert() with RGB; returns (skipped.json, record -> skip entry)."""
    from data_pipelines.datasets.convert import convert

    report = convert(dataset, src, out, rgb_size=4)
    payload = json.loads((out / "skipped.json").read_text())
    assert payload["written"] == report.written
    return payload, {s["record"]: s for s in payload["skipped"]}


def _converted_ids(out: Path, split: str) -> list[str]:
    shards = pytest.importorskip("signx_jax.data.shards")
    source = shards.open_split(str(out), split)
    return [source[i]["clip_id"] for i in range(len(source))]


# dataset -> (fixture writer, damaged clip, its split, frame file under exp["frames"],
#            where the clip is annotated, written counts, train clips converted)
FRAME_CASES = {
    "phoenix2014t": (
        "write_phoenix2014t",
        "01April_2010_Thursday_heute-6694",
        "train",
        "train/01April_2010_Thursday_heute-6694/images0003.png",
        r"train\.corpus\.csv:2",
        {"train": 2, "dev": 1, "test": 1},
        ["01April_2010_Thursday_tagesschau-4334", "05May_2011_Thursday_tagesschau-3545"],
    ),
    "csl_daily": (
        "write_csl_daily",
        "S000003_P0003_T00",  # the only dev clip
        "dev",
        "S000003_P0003_T00/000002.jpg",
        r"video_map\.txt:5",
        {"train": 3, "dev": 0, "test": 1},
        ["S000000_P0000_T00", "S000001_P0001_T00", "S000002_P0002_T00"],
    ),
}
FRAME_PARAMS = [
    pytest.param(dataset, damage, id=f"{dataset}-{name}")
    for dataset in FRAME_CASES
    for name, damage in [*IMAGE_DAMAGE.items(), ("png_chunk_length", _png_chunk_length_too_small)]
    if name != "png_chunk_length" or dataset == "phoenix2014t"
]


@pytest.mark.parametrize("dataset, damage", FRAME_PARAMS)
def test_unreadable_frame_is_skipped(tmp_path, dataset, damage):
    """A damaged .png (PHOENIX-2014-T) / .jpg (CSL-Daily) in a frames folder."""
    from tests.data_pipelines import fixtures as F

    writer, bad_clip, split, frame, where, written, train_ids = FRAME_CASES[dataset]
    exp = getattr(F, writer)(tmp_path / "src")
    frame = exp["frames"] / frame
    frame.write_bytes(damage(frame.read_bytes()))
    payload, skipped = _convert_and_read(dataset, tmp_path / "src", tmp_path / "out")
    entry = skipped[bad_clip]
    assert entry["split"] == split
    pattern = re.escape(str(frame)) + r": unreadable image \(.+\) \(.*" + where + r"\)"
    assert re.fullmatch(pattern, entry["reason"]), entry
    assert payload["written"] == written
    assert _converted_ids(tmp_path / "out", "train") == train_ids


def test_wlasl_unreadable_videos(tmp_path):
    """Clips with only a video: garbage bytes, a truncated mp4 (no moov atom), an
    empty file, and one intact mp4 that must convert from the video."""
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    from tests.data_pipelines import fixtures as F

    src = tmp_path / "src"
    F.write_wlasl(src)
    videos = src / "videos"
    videos.mkdir()
    good = videos / "69241.mp4"
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"mp4v"), 25, (8, 8))
    assert writer.isOpened()
    for i in range(10):
        writer.write(np.full((8, 8, 3), 20 * i, np.uint8))
    writer.release()
    bad = {  # video_id -> (bytes, where in the json)
        "07069": (b"\x00\x00\x00\x18ftypmp42" + b"junk" * 64, r"json\[0\]\.instances\[1\]"),
        "07068": (good.read_bytes()[: good.stat().st_size // 2], r"json\[0\]\.instances\[2\]"),
        "65540": (b"", r"json\[1\]\.instances\[1\]"),
    }
    for video_id, (data, _) in bad.items():
        (videos / f"{video_id}.mp4").write_bytes(data)
    for video_id in [*bad, "69241"]:  # no frames folder: the video is the only media
        for p in (src / "frames" / video_id).iterdir():
            p.unlink()
        (src / "frames" / video_id).rmdir()
    payload, skipped = _convert_and_read("wlasl", src, tmp_path / "out")
    for video_id, (_, where) in bad.items():
        video = re.escape(str(videos / f"{video_id}.mp4"))
        assert re.fullmatch(
            video + r": OpenCV cannot open this video \(.*" + where + r"\)",
            skipped[video_id]["reason"],
        ), skipped[video_id]
    assert payload["written"] == {"train": 2, "dev": 0, "test": 0}
    shards = pytest.importorskip("signx_jax.data.shards")
    source = shards.open_split(str(tmp_path / "out"), "train")
    recs = {source[i]["clip_id"]: source[i] for i in range(len(source))}
    assert set(recs) == {"69241", "65539"}
    assert recs["69241"]["rgb"].shape == (10, 4, 4, 3)  # read from the intact mp4
