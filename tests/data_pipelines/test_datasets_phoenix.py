"""PHOENIX-2014-T / PHOENIX-2014 converters on fixture files in the published format."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from data_pipelines.datasets import phoenix
from data_pipelines.datasets.common import ConversionError, Report
from data_pipelines.datasets.convert import iter_records, materialize
from tests.data_pipelines import fixtures as F

HEADER = F.P14T_HEADER


def _list(root: Path) -> tuple[dict, Report]:
    report = Report("phoenix2014t")
    return phoenix.list_clips_2014t(root, report), report


def _records(by_split: dict, report: Report, poses_root=None, max_frames=None) -> list[dict]:
    return [
        r
        for split in by_split
        for r in iter_records(by_split[split], report, poses_root, None, max_frames)
    ]


def test_2014t_counts_glosses_and_skips(tmp_path):
    exp = F.write_phoenix2014t(tmp_path)
    by_split, report = _list(tmp_path)
    got = {s: [(c.clip_id, c.gloss) for c in cs] for s, cs in by_split.items()}
    assert got["dev"] == exp["clips"]["dev"] and got["test"] == exp["clips"]["test"]
    # empty_frames-1 has a folder (empty): it is listed, and skipped when read.
    assert got["train"] == exp["clips"]["train"] + [("empty_frames-1", "REGEN")]
    first = by_split["train"][0]
    assert first.translation == "regen und schnee" and first.signer == "Signer04"
    # The csv says <name>/1/*.png, the frames live in <name>/ directly.
    assert first.frames_dir == exp["frames"] / "train" / first.clip_id
    skipped = {s["record"]: s["reason"] for s in report.skipped}
    assert skipped[f"{exp['csv']['train']}:5"].startswith("malformed line: 3 fields")
    assert skipped["no_frames-1"].startswith("missing frames folder")

    records = _records(by_split, report)
    assert [r["clip_id"] for r in records] == [c for s in exp["clips"].values() for c, _ in s]
    assert records[0]["poses"]["dwpose"].shape == (6, 384)
    assert not records[0]["presence"].any()  # no poses_root: every stream absent
    assert (
        "zero-length clip"
        in dict((s["record"], s["reason"]) for s in report.skipped)["empty_frames-1"]
    )


def test_2014t_poses_rgb_and_fps(tmp_path):
    poses = tmp_path / "poses"
    F.write_phoenix2014t(tmp_path, with_poses=poses)
    by_split, report = _list(tmp_path)
    clip = materialize(by_split["train"][0], poses, rgb_size=4)
    arrays = np.load(poses / "train" / clip["clip_id"] / "dwpose.npy")
    np.testing.assert_array_equal(clip["poses"]["dwpose"], arrays)
    assert clip["presence"][:, :2].all() and not clip["presence"][:, 2:].any()
    assert clip["rgb"].shape == (6, 4, 4, 3) and clip["rgb"].dtype == np.uint8
    assert clip["fps"] == 25.0


def test_2014t_frames_in_1_subfolder_also_found(tmp_path):
    exp = F.write_phoenix2014t(tmp_path)
    name = exp["clips"]["dev"][0][0]
    d = exp["frames"] / "dev" / name
    (d / "1").mkdir()
    for p in d.glob("*.png"):
        p.rename(d / "1" / p.name)
    by_split, _ = _list(tmp_path)
    assert by_split["dev"][0].frames_dir == d / "1"


def _rewrite(path: Path, transform) -> None:
    path.write_text(transform(path.read_text()))


def _append(line: str):
    return lambda text: text + line + "\n"


# (mutation of the fixture, expected ConversionError text or None, expected skip/warning text)
MALFORMED = {
    "csv_missing": (lambda e, r: e["csv"]["dev"].unlink(), "annotation file not found", None),
    "column_missing": (
        lambda e, r: _rewrite(e["csv"]["test"], lambda t: t.replace("|orth|", "|gloss|")),
        "lacks column(s) ['orth']",
        None,
    ),
    "empty_file": (lambda e, r: e["csv"]["dev"].write_text(""), "empty file", None),
    "extra_field_pipe_in_text": (
        lambda e, r: _rewrite(e["csv"]["dev"], _append("x|x/1/*.png|-1|-1|S1|A|b|c")),
        None,
        "malformed line: 8 fields",
    ),
    "empty_gloss": (
        lambda e, r: _rewrite(
            e["csv"]["dev"], _append("11August_2010_Wednesday_tagesschau-2|v|-1|-1|S|  |t")
        ),
        None,
        "empty gloss sequence",
    ),
    "empty_name": (
        lambda e, r: _rewrite(e["csv"]["dev"], _append("|v|-1|-1|S|A|t")),
        None,
        "malformed line: empty clip name",
    ),
    "duplicate_name": (
        lambda e, r: _rewrite(
            e["csv"]["test"], _append("25October_2010_Monday_tagesschau-17|v|-1|-1|S|A|t")
        ),
        None,
        "duplicate clip id",
    ),
    "unknown_column": (
        lambda e, r: _rewrite(
            e["csv"]["test"],
            lambda t: "\n".join(line + "|x" for line in t.splitlines()) + "\n",
        ),
        None,
        "unknown column(s) ['x']",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_2014t_malformed_annotations(tmp_path, case):
    mutate, error, message = MALFORMED[case]
    exp = F.write_phoenix2014t(tmp_path)
    mutate(exp, tmp_path)
    if error is not None:
        with pytest.raises(ConversionError, match=r"\.csv:?\d*: .*" + re.escape(error)):
            _list(tmp_path)
        return
    by_split, report = _list(tmp_path)
    _records(by_split, report)
    assert any(message in m for m in report.reasons() + report.warnings), report


def _poses_case(tmp_path, broken):
    """Write good poses, break the first train clip's with ``broken(folder)``, convert."""
    poses = tmp_path / "poses"
    exp = F.write_phoenix2014t(tmp_path, with_poses=poses)
    name = exp["clips"]["train"][0][0]
    broken(poses / "train" / name)
    by_split, report = _list(tmp_path)
    records = _records(by_split, report, poses_root=poses)
    assert name not in [r["clip_id"] for r in records]
    return {s["record"]: s["reason"] for s in report.skipped}[name]


def test_wrong_pose_shape_is_a_skip(tmp_path):
    reason = _poses_case(tmp_path, lambda d: np.save(d / "dwpose.npy", np.zeros((6, 100))))
    assert reason.startswith("bad pose file:") and "expected [T, 384] or [T, 128, 3]" in reason


def test_pose_length_disagrees_with_frames_is_a_skip(tmp_path):
    def broken(d):
        np.save(d / "dwpose.npy", np.zeros((9, 384)))
        np.save(d / "mediapipe.npy", np.zeros((9, 258)))

    assert _poses_case(tmp_path, broken).startswith("frame count mismatch")


def test_corrupt_npy_is_a_skip(tmp_path):
    reason = _poses_case(tmp_path, lambda d: (d / "dwpose.npy").write_bytes(b"not numpy"))
    assert "not a readable .npy" in reason


def test_too_long_is_a_skip(tmp_path):
    F.write_phoenix2014t(tmp_path)
    by_split, report = _list(tmp_path)
    records = _records(by_split, report, max_frames=6)
    reasons = {s["record"]: s["reason"] for s in report.skipped}
    assert reasons["05May_2011_Thursday_tagesschau-3545"].startswith("too long: 7 frames > ")
    assert all(len(r["presence"]) <= 6 for r in records)


def test_phoenix2014_multisigner(tmp_path):
    exp = F.write_phoenix2014(tmp_path)
    report = Report("phoenix2014")
    by_split = phoenix.list_clips_2014(tmp_path, report)
    assert {s: [(c.clip_id, c.gloss) for c in cs] for s, cs in by_split.items()} == exp["clips"]
    assert report.reasons()[0].startswith("missing frames folder")
    records = _records(by_split, report)
    assert [len(r["presence"]) for r in records] == [5, 4, 4, 4]
    assert records[0]["translation"] == "" and records[0]["gloss"].startswith("__ON__ LIEB")
