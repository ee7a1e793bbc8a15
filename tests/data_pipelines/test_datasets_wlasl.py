"""WLASL converter on a fixture WLASL_v0.3.json (+ frames and one real video)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from data_pipelines.datasets import wlasl
from data_pipelines.datasets.common import ConversionError, Report
from data_pipelines.datasets.convert import iter_records
from tests.data_pipelines import fixtures as F


def _run(root, poses_root=None, rgb_size=None, num_classes=None):
    report = Report("wlasl")
    by_split = wlasl.list_clips(root, report, num_classes=num_classes)
    records = [
        r for cs in by_split.values() for r in iter_records(cs, report, poses_root, rgb_size, None)
    ]
    return by_split, records, report


def test_counts_classes_and_frame_windows(tmp_path):
    exp = F.write_wlasl(tmp_path)
    by_split, records, report = _run(tmp_path)
    assert {s: [(c.clip_id, c.gloss) for c in cs] for s, cs in by_split.items()} == {
        **exp["clips"],
        "train": exp["clips"]["train"] + [("65541", "drink")],  # window checked when read
    }
    assert {r["clip_id"]: len(r["presence"]) for r in records} == exp["lengths"]
    reasons = {s["record"]: s["reason"] for s in report.skipped}
    assert reasons["65541"].startswith("frame range outside the media: [4, 30)")
    assert reasons["65542"].startswith("zero-length clip: frame_start=6, frame_end=4")
    assert reasons[f"{exp['json']}[2].instances[0]"].startswith("malformed instance: missing key")
    assert {r["fps"] for r in records} == {25.0}


def test_window_cuts_poses_and_frames(tmp_path):
    F.write_wlasl(tmp_path)
    poses = tmp_path / "poses"
    arrays = F.write_poses(poses, "train", "07069", 10, streams=("mediapipe",))
    _, records, _ = _run(tmp_path, poses_root=poses, rgb_size=4)
    clip = next(r for r in records if r["clip_id"] == "07069")
    # frame_start=3 (1-indexed), frame_end=8 (inclusive) -> 0-indexed frames 2..7.
    np.testing.assert_array_equal(clip["poses"]["mediapipe"], arrays["mediapipe"][2:8])
    expected_red = [(i * 37) % 256 for i in range(2, 8)]
    np.testing.assert_allclose(clip["rgb"][:, 0, 0, 0], expected_red, atol=8)  # jpeg


def test_num_classes_keeps_first_glosses(tmp_path):
    F.write_wlasl(tmp_path)
    by_split, _, _ = _run(tmp_path, num_classes=1)
    assert {c.gloss for cs in by_split.values() for c in cs} == {"book"}


def test_video_file_is_read_with_opencv(tmp_path):
    cv2 = pytest.importorskip("cv2")
    root = tmp_path / "w"
    (root / "videos").mkdir(parents=True)
    inst = F.wlasl_instance("00001", "train", 2, 6)
    (root / "WLASL_v0.3.json").write_text(json.dumps([{"gloss": "hello", "instances": [inst]}]))
    writer = cv2.VideoWriter(
        str(root / "videos" / "00001.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (16, 16)
    )
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4")
    for i in range(8):
        writer.write(np.full((16, 16, 3), i * 30, np.uint8))
    writer.release()
    _, records, report = _run(root, rgb_size=8)
    assert not report.skipped, report.skipped
    assert records[0]["rgb"].shape == (5, 8, 8, 3)
    assert abs(int(records[0]["rgb"][0, 4, 4, 0]) - 30) < 12  # frame index 1


def _entries(e):
    return json.loads(e["json"].read_text())


def _dump(e, data):
    e["json"].write_text(json.dumps(data))


def _set(key, value, entry=0, inst=0):
    def mutate(e):
        data = _entries(e)
        data[entry]["instances"][inst][key] = value
        _dump(e, data)

    return mutate


MALFORMED = {
    "json_missing": (lambda e: e["json"].unlink(), "annotation file not found", None),
    "bad_json": (
        lambda e: e["json"].write_text('[{"gloss": "book", "instances": [}]'),
        "invalid JSON",
        None,
    ),
    "top_level_dict": (
        lambda e: e["json"].write_text('{"book": []}'),
        "top level is dict, expected a list",
        None,
    ),
    "entry_not_object": (lambda e: _dump(e, _entries(e) + ["book"]), None, "malformed entry"),
    "instances_not_list": (
        lambda e: _dump(e, _entries(e) + [{"gloss": "x", "instances": 3}]),
        None,
        "'instances' is not a list",
    ),
    "instance_not_object": (
        lambda e: _dump(e, _entries(e) + [{"gloss": "x", "instances": [7]}]),
        None,
        "malformed instance: int",
    ),
    "non_numeric_frames": (_set("frame_start", "one"), None, "non-numeric frame_start"),
    "unknown_split": (_set("split", "holdout"), None, "unknown split 'holdout'"),
    "frame_start_zero": (_set("frame_start", 0), None, "zero-length clip: frame_start=0"),
    "duplicate_video_id": (_set("video_id", "07069", entry=0, inst=0), None, "duplicate video_id"),
    "no_media": (lambda e: _set("video_id", "99999")(e), None, "no media"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_inputs(tmp_path, case):
    mutate, error, message = MALFORMED[case]
    exp = F.write_wlasl(tmp_path)
    mutate(exp)
    if error is not None:
        with pytest.raises(ConversionError, match=r"WLASL_v0\.3\.json.*" + re.escape(error)):
            _run(tmp_path)
        return
    _, _, report = _run(tmp_path)
    assert any(message in m for m in report.reasons()), report.skipped
