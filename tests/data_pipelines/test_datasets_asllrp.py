"""ASLLRP converter: SignStream XML and the DAI 2 XML export, gloss spans."""

from __future__ import annotations

import re

import numpy as np
import pytest

from data_pipelines.datasets import asllrp
from data_pipelines.datasets.common import ConversionError, Report
from data_pipelines.datasets.convert import iter_records
from tests.data_pipelines import fixtures as F


def _run(root, poses_root=None):
    report = Report("asllrp")
    by_split = asllrp.list_clips(root, report)
    records = [r for cs in by_split.values() for r in iter_records(cs, report, poses_root, 4, None)]
    return by_split, records, report


def test_both_formats_glosses_spans_and_windows(tmp_path):
    exp = F.write_asllrp(tmp_path)
    by_split, records, report = _run(tmp_path)
    assert [c.clip_id for c in by_split["dev"]] == ["Cory_2013-6-27_sc107-2572"]
    got = {r["clip_id"]: (r["gloss"], r["gloss_spans"].tolist()) for r in records}
    assert got == exp["clips"]
    by_id = {r["clip_id"]: r for r in records}
    signstream = by_id["accident-35"]
    assert signstream["signer"] == "Mike" and signstream["translation"] == "I looked at it."
    assert len(signstream["presence"]) == 31  # 0..1000 ms = frames 0..30, utterance-level
    dai = by_id["Cory_2013-6-27_sc107-2571"]
    # quotes of the DAI's text values removed; the signer is the SEGMENT-TIER's PARTICIPANT
    assert dai["translation"] == "Where is the book?" and dai["signer"] == "Cory"
    assert len(dai["presence"]) == 12  # frames 10..21 inclusive, cut from the whole video
    expected_red = [(i * 37) % 256 for i in range(10, 22)]
    np.testing.assert_allclose(dai["rgb"][:, 0, 0, 0], expected_red, atol=8)
    assert dai["gloss_spans"].dtype == np.int32
    reasons = sorted(report.reasons())
    assert reasons == [
        "malformed utterance: S/E are not integer ms",
        "malformed utterance: START_FRAME/END_FRAME missing or not integers",
    ]


def test_hash_split_is_stable_and_covers_all_splits():
    splits = [asllrp.hash_split(f"clip-{i}") for i in range(300)]
    assert splits == [asllrp.hash_split(f"clip-{i}") for i in range(300)]
    assert 0.7 < splits.count("train") / 300 < 0.9 and splits.count("test") > 10


def test_whole_video_poses_are_cut_to_the_utterance(tmp_path):
    F.write_asllrp(tmp_path)
    poses = tmp_path / "poses"
    arrays = F.write_poses(poses, "train", "Cory_2013-6-27_sc107", 28, streams=("dwpose",))
    F.write_poses(poses, "train", "accident-35", 31, streams=("dwpose",))
    (poses / "dev").mkdir()
    (poses / "dev" / "Cory_2013-6-27_sc107").symlink_to(poses / "train" / "Cory_2013-6-27_sc107")
    _, records, report = _run(tmp_path, poses_root=poses)
    assert len(report.skipped) == 2, report.skipped  # the two malformed utterances
    clip = next(r for r in records if r["clip_id"] == "Cory_2013-6-27_sc107-2571")
    np.testing.assert_array_equal(clip["poses"]["dwpose"], arrays["dwpose"][10:22])


def test_whole_video_found_by_its_media_file_name(tmp_path):
    """Frames named after the video (SignStream MEDIA-REF path, DAI MEDIA-FILE FILE-NAME)."""
    F.write_asllrp(tmp_path)
    frames = tmp_path / "frames"
    (frames / "Cory_2013-6-27_sc107").rename(frames / "2013-06-27_CB_0107-cam1-for-ss3")
    (frames / "accident-35").rename(frames / "109_483_master_small")  # a Mac path a:b.mov
    F.write_frames(frames / "109_483_master_small", 40, "{:05d}.jpg")
    by_split, records, report = _run(tmp_path)
    assert len(report.skipped) == 2, report.skipped  # the two malformed utterances
    keys = {c.clip_id: (c.media_key, c.frame_range) for cs in by_split.values() for c in cs}
    assert keys["accident-35"] == ("109_483_master_small", (0, 31))
    assert keys["Cory_2013-6-27_sc107-2571"] == ("2013-06-27_CB_0107-cam1-for-ss3", (10, 22))
    assert {r["clip_id"]: len(r["presence"]) for r in records}["accident-35"] == 31


def _xml(root, name):
    return root / ("ncslgr/accident.xml" if name == "ss" else "dai/xml_extract_1379840.xml")


def _edit(which, old, new):
    def mutate(root):
        p = _xml(root, which)
        assert old in p.read_text()
        p.write_text(p.read_text().replace(old, new, 1))

    return mutate


MALFORMED = {
    "bad_xml": (_edit("ss", "</UTTERANCES>", "</UTTERANCE>"), "malformed XML", None),
    "no_main_gloss_field": (
        _edit("ss", 'LABEL="main gloss" NAME="main gloss"', 'LABEL="gloss" NAME="gloss"'),
        "no FIELD labelled 'main gloss'",
        None,
    ),
    "no_xml_files": (
        lambda root: [_xml(root, w).unlink() for w in ("ss", "dai")],
        "no *.xml annotation files",
        None,
    ),
    "sign_time_not_int": (
        _edit("ss", '<A E="200" S="100">', '<A E="2x0" S="100">'),
        None,
        "malformed sign: S/E of a main gloss A",
    ),
    "utterance_end_before_start": (
        _edit("ss", 'ID="35" S="0"', 'ID="35" S="2000"'),
        None,
        "zero-length clip: utterance ends before it starts",
    ),
    "sign_without_label": (
        _edit("dai", "<SIGN ID=\"1\"><LABEL>'BOOK'</LABEL>", '<SIGN ID="1">'),
        None,
        "malformed sign #0: needs LABEL",
    ),
    "sign_without_frames": (
        _edit("dai", '<DOMINANT_HAND START_FRAME="11" END_FRAME="14"/>', ""),
        None,
        "malformed sign #0",
    ),
    "sign_before_utterance": (
        _edit("dai", 'START_FRAME="11"', 'START_FRAME="5"'),
        None,
        "gloss span before the utterance start",
    ),
    "sign_after_utterance": (
        _edit("dai", 'START_FRAME="16" END_FRAME="20"', 'START_FRAME="40" END_FRAME="45"'),
        None,
        "gloss span outside the clip",
    ),
    "window_past_video": (
        _edit("dai", 'START_FRAME="20" END_FRAME="25"', 'START_FRAME="20" END_FRAME="35"'),
        None,
        "frame range outside the media",
    ),
    "sign_ends_before_it_starts": (
        _edit("dai", 'START_FRAME="11" END_FRAME="14"', 'START_FRAME="14" END_FRAME="11"'),
        None,
        "malformed sign: it ends before it starts",
    ),
    "duplicate_utterance": (
        _edit("dai", 'UTTERANCE ID="2572"', 'UTTERANCE ID="2571"'),
        None,
        "duplicate utterance id",
    ),
    "bad_split_override": (
        lambda root: (root / "splits.txt").write_text("name|split\naccident-35|holdout\n"),
        None,
        "unknown split 'holdout'",
    ),
}
MALFORMED["no_signs"] = (
    _edit(
        "ss",
        '<A E="200" S="100">IX-1p</A>\n<A E="600" S="100" VID="400000"/>\n'
        '<A E="800" S="500">BCL"holding and examining hand"</A>',
        "",
    ),
    None,
    "empty gloss sequence: no main-gloss signs",
)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_inputs(tmp_path, case):
    mutate, error, message = MALFORMED[case]
    F.write_asllrp(tmp_path)
    mutate(tmp_path)
    if error is not None:
        with pytest.raises(ConversionError, match=re.escape(error)):
            _run(tmp_path)
        return
    _, _, report = _run(tmp_path)
    assert any(message in m for m in report.reasons()), report.skipped
