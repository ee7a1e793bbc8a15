"""MediaPipe holistic extraction (own venv): real landmarks on skimage's astronaut."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipelines.datasets import pose_files
from data_pipelines.extract import mediapipe_extract as mx
from data_pipelines.extract.__main__ import main


def _astronaut_frames(folder, n=3):
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(data.astronaut())  # bundled with scikit-image, no download
    for i in range(n):
        image.save(folder / f"{i:04d}.png")
    return np.asarray(image)


def _check_astronaut(arrays, n):
    parts = arrays["mediapipe_parts"]
    assert arrays["mediapipe"].shape == (n, 258) and parts.shape == (n, 3)
    assert parts[:, 0].all() and arrays["face_present"].all()  # body and face found
    assert not parts[:, 1:].any()  # her hands are out of frame: reported absent ...
    assert not arrays["mediapipe"][:, 132:].any()  # ... and not invented
    pose = arrays["mediapipe"][:, :132].reshape(n, 33, 4)
    nose, left_shoulder = pose[0, 0], pose[0, 11]
    assert 0.3 < nose[0] < 0.6 and 0.1 < nose[1] < 0.4 and nose[3] > 0.9  # normalized x, y
    assert left_shoulder[1] > nose[1]  # shoulders below the nose


needs_venv = pytest.mark.skipif(
    not mx.venv_ready(mx.default_venv()),
    reason="MediaPipe venv missing: run `python -m data_pipelines.extract --setup` (a few min)",
)


@needs_venv
def test_holistic_on_astronaut_frames(tmp_path):
    _astronaut_frames(tmp_path / "frames")
    out = tmp_path / "astro.npz"
    arrays = mx.extract(tmp_path / "frames", out, static_image_mode=True)
    _check_astronaut(arrays, 3)
    # The .npz is a pose_files input as it is.
    streams = pose_files.load_npz(out, ("mediapipe",))
    assert streams["mediapipe"][1].all()


@needs_venv
def test_cli_on_a_video(tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    rgb = _astronaut_frames(tmp_path / "frames", n=1)
    writer = cv2.VideoWriter(
        str(tmp_path / "a.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (512, 512)
    )
    for _ in range(3):
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    assert main(["--video", str(tmp_path / "a.avi"), "--out", str(tmp_path / "a.npz")]) == 0
    assert "3 frames; found pose 100%, left hand 0%, right hand 0%, face 100%" in (
        capsys.readouterr().out
    )
    with np.load(tmp_path / "a.npz") as z:
        assert float(z["fps"]) == pytest.approx(25.0) and int(z["width"]) == 512


@pytest.mark.slow
def test_venv_is_created_on_first_use(tmp_path):
    """Creates the venv if missing (minutes: pip downloads mediapipe), then extracts."""
    mx.ensure_venv(quiet=True)
    _astronaut_frames(tmp_path / "frames", n=1)
    _check_astronaut(mx.extract(tmp_path / "frames", static_image_mode=True), 1)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p / "missing.mp4", "no such video file or frame folder"),
        (lambda p: (p / "x.txt").write_text("") or p / "x.txt", "unsupported suffix"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "folder has no"),
    ],
)
def test_bad_inputs_are_named(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(mx.ExtractionError, match=f"{path.name}.*{message}"):
        mx.extract(path)


def test_only_the_shipped_model_complexity(tmp_path):
    _astronaut_frames(tmp_path / "f", n=1)
    with pytest.raises(mx.ExtractionError, match="model_complexity 2: only 1 ships"):
        mx.extract(tmp_path / "f", model_complexity=2)
