"""Pose file layouts -> [T, dim] streams; .pose round trip through pose-format."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipelines.datasets import pose_files
from data_pipelines.datasets.common import ConversionError
from tests.data_pipelines import fixtures as F


def test_pose_format_round_trip_to_258(tmp_path):
    pytest.importorskip("pose_format")
    body, vis, rhand = F.write_holistic_pose(tmp_path / "clip" / "mediapipe.pose", 4)
    arr, parts = pose_files.read_pose_file(tmp_path / "clip" / "mediapipe.pose")
    assert arr.shape == (4, 258) and arr.dtype == np.float32
    pose = arr[:, :132].reshape(4, 33, 4)
    np.testing.assert_allclose(pose[..., :3], body, rtol=1e-5, atol=1e-6)  # x/w, y/h undone
    np.testing.assert_allclose(pose[..., 3], vis, rtol=1e-6)
    assert not arr[:, 132:195].any()  # left hand absent: zeros, not invented
    np.testing.assert_allclose(arr[:, 195:].reshape(4, 21, 3), rhand, rtol=1e-5, atol=1e-6)
    assert parts.tolist() == [[True, False, True]] * 4
    streams = pose_files.find_and_load(tmp_path, "train", "clip")
    assert list(streams) == ["mediapipe"] and streams["mediapipe"][1].all()


def test_pose_file_without_hands_is_an_error(tmp_path):
    pytest.importorskip("pose_format")
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import (
        VERSION,
        PoseHeader,
        PoseHeaderComponent,
        PoseHeaderDimensions,
    )

    comp = PoseHeaderComponent("BODY", ["a", "b"], [(0, 1)], [(0, 0, 0)], "XYC")
    pose = Pose(
        PoseHeader(VERSION, PoseHeaderDimensions(10, 10), [comp]),
        NumPyPoseBody(25, np.ones((2, 1, 2, 2), np.float32), np.ones((2, 1, 2), np.float32)),
    )
    with open(tmp_path / "x.pose", "wb") as f:
        pose.write(f)
    with pytest.raises(ConversionError, match=r"x\.pose: components \['BODY'\] lack"):
        pose_files.read_pose_file(tmp_path / "x.pose")
    (tmp_path / "y.pose").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ConversionError, match=r"y\.pose: not a readable \.pose"):
        pose_files.read_pose_file(tmp_path / "y.pose")


def test_single_npz_with_presence_and_nan_rows(tmp_path):
    dw = F.stream_array("dwpose", 5).reshape(5, 128, 3)
    dw[1] = np.nan
    mp = F.stream_array("mediapipe", 5)
    mp[3] = 0.0  # extractor wrote nothing for frame 3
    parts = np.ones((5, 3), bool)
    parts[4] = False
    (tmp_path / "dev").mkdir()
    np.savez(tmp_path / "dev" / "c1.npz", dwpose=dw, mediapipe=mp, mediapipe_parts=parts)
    streams = pose_files.find_and_load(tmp_path, "dev", "c1")
    arr, present = streams["dwpose"]
    assert arr.shape == (5, 384) and not arr[1].any() and present.tolist() == [1, 0, 1, 1, 1]
    assert streams["mediapipe"][1].tolist() == [1, 1, 1, 0, 0]


@pytest.mark.parametrize(
    "name,array,message",
    [
        ("dwpose", np.zeros((4, 128, 2)), r"expected \[T, 384\] or \[T, 128, 3\]"),
        ("mediapipe", np.zeros((4, 75, 4)), r"expected \[T, 258\]$"),
        ("primedepth", np.zeros(4), r"shape \[4\], expected \[T, 576\] or \[T, 24, 24\]"),
        ("smplerx", np.array([["a"] * 165]), "dtype <U1, expected numbers"),
    ],
)
def test_wrong_shapes_name_file_and_expectation(tmp_path, name, array, message):
    folder = tmp_path / "train" / "k"
    folder.mkdir(parents=True)
    np.save(folder / f"{name}.npy", array)
    with pytest.raises(ConversionError, match=rf"k/{name}\.npy: .*{message}"):
        pose_files.find_and_load(tmp_path, "train", "k")


def test_streams_must_agree_and_npz_key_must_exist(tmp_path):
    folder = tmp_path / "k"
    folder.mkdir()
    np.save(folder / "dwpose.npy", np.ones((4, 384)))
    np.save(folder / "sapiens.npy", np.ones((5, 24, 24)))
    with pytest.raises(ConversionError, match=r"streams disagree on frame count"):
        pose_files.find_and_load(tmp_path, "train", "k")  # no train/: falls back to root
    (folder / "sapiens.npy").unlink()
    np.savez(folder / "sapiens.npz", a=np.ones((4, 576)), b=np.ones(4))
    with pytest.raises(ConversionError, match=r"sapiens\.npz: no array named 'sapiens'"):
        pose_files.find_and_load(tmp_path, "train", "k")
    assert pose_files.find_and_load(tmp_path, "train", "missing") == {}
