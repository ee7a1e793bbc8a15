"""CSL-Daily converter on fixture files in the published format."""

from __future__ import annotations

import re

import numpy as np
import pytest

from data_pipelines.datasets import csl_daily
from data_pipelines.datasets.common import ConversionError, Report
from data_pipelines.datasets.convert import iter_records
from tests.data_pipelines import fixtures as F


def _run(root, poses_root=None, max_frames=None):
    report = Report("csl_daily")
    by_split = csl_daily.list_clips(root, report)
    records = [
        r
        for cs in by_split.values()
        for r in iter_records(cs, report, poses_root, None, max_frames)
    ]
    return by_split, records, report


def test_counts_glosses_translation_signer(tmp_path):
    exp = F.write_csl_daily(tmp_path)
    by_split, records, report = _run(tmp_path)
    assert {s: [(c.clip_id, c.gloss) for c in cs] for s, cs in by_split.items()} == exp["clips"]
    first = records[0]
    # the ``word`` column (word-segmented), not the ``char`` one
    assert first["translation"] == "他 家里 有 人" and first["signer"] == "P0000"
    assert first["fps"] == 30.0 and first["presence"].shape == (5, 5)
    reasons = {s["record"]: s["reason"] for s in report.skipped}
    assert reasons[f"{exp['video_map']}:7"] == "malformed line: 6 fields, header has 7"
    assert reasons["S000006_P0006_T00"].startswith("missing frames folder")
    assert reasons["S000007_P0007_T00"].startswith("zero-length clip")
    assert len(report.skipped) == 3


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new))


def _split_file(root):
    return root / "sentence_label" / "split_1.txt"


MALFORMED = {
    "video_map_missing": (
        lambda e, r: e["video_map"].unlink(),
        "video_map.txt: annotation file not found",
        None,
    ),
    "split_missing": (
        lambda e, r: _split_file(r).unlink(),
        "split_1.txt: annotation file not found",
        None,
    ),
    "gloss_column_missing": (
        lambda e, r: _edit(e["video_map"], "|gloss|", "|glosses|"),
        "lacks column(s) ['gloss']",
        None,
    ),
    "unknown_split": (
        lambda e, r: _edit(_split_file(r), "S000004_P0004_T00|test", "S000004_P0004_T00|eval"),
        None,
        "unknown split 'eval'",
    ),
    "not_in_split_file": (
        lambda e, r: _edit(_split_file(r), "S000003_P0003_T00|dev\n", ""),
        None,
        "not in split_1.txt",
    ),
    "length_not_number": (
        lambda e, r: _edit(e["video_map"], "|S000001_P0001_T00|6|", "|S000001_P0001_T00|six|"),
        None,
        "length 'six' is not a number",
    ),
    "empty_gloss": (
        lambda e, r: _edit(e["video_map"], "|今天 天气 好|", "| |"),
        None,
        "empty gloss sequence",
    ),
    "empty_frames_folder": (
        lambda e, r: [p.unlink() for p in (e["frames"] / "S000002_P0002_T00").iterdir()],
        None,
        "zero-length clip: no image files",
    ),
    "length_disagrees_with_folder": (
        lambda e, r: _edit(e["video_map"], "|S000001_P0001_T00|6|", "|S000001_P0001_T00|60|"),
        None,
        "annotation says 60 frames, found 6",
    ),
    "duplicate_in_split_file": (
        lambda e, r: _edit(_split_file(r), "name|split\n", "name|split\nS000000_P0000_T00|dev\n"),
        None,
        "duplicate name 'S000000_P0000_T00'",
    ),
    "wrong_field_count": (
        lambda e, r: _edit(
            e["video_map"],
            "|n v n\n",
            "|n v n|extra\n",
        ),
        None,
        "malformed line: 8 fields",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_inputs(tmp_path, case):
    mutate, error, message = MALFORMED[case]
    exp = F.write_csl_daily(tmp_path)
    mutate(exp, tmp_path)
    if error is not None:
        with pytest.raises(ConversionError, match=re.escape(error)):
            _run(tmp_path)
        return
    _, _, report = _run(tmp_path)
    assert any(message in m for m in report.reasons() + report.warnings), report


def test_too_long_and_natural_pose_shapes(tmp_path):
    F.write_csl_daily(tmp_path)
    poses = tmp_path / "poses"
    for name, split, _, _, n in F.CSL_GOOD:
        folder = poses / split / name
        folder.mkdir(parents=True)
        np.save(folder / "smplerx.npy", np.ones((n, 55, 3), np.float32))  # natural shape
        np.save(folder / "sapiens.npy", np.ones((n, 24, 24), np.float32))
    _, records, report = _run(tmp_path, poses_root=poses, max_frames=5)
    assert "S000001_P0001_T00" in [s["record"] for s in report.skipped if "too long" in s["reason"]]
    assert len(records) == 4
    assert records[0]["poses"]["smplerx"].shape == (5, 165)
    assert records[0]["presence"][:, [2, 4]].all() and not records[0]["presence"][:, 0].any()
