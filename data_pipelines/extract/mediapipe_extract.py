"""Video or frames -> MediaPipe holistic landmarks, the ``mediapipe`` stream (paper section 3.1).

mediapipe 0.10.x pins protobuf < 5 and numpy < 2; the project's venv has
TensorFlow (protobuf >= 6.31) and numpy 2. So extraction runs in its own venv,
created on first use (``<repo>/.extract-venv``, gitignored; or
``$SIGNX_EXTRACT_VENV``) with ``mediapipe==0.10.21`` (its wheel ships the
holistic .tflite models; 1.x wheels ship none), and ``holistic_worker.py`` runs
there as a subprocess; the arrays come back through an .npz.

Output .npz (also a valid ``pose_files`` input: put it at
``<poses_root>/<split>/<clip_id>.npz``)::

    mediapipe        float32 [T, 258]  33 pose x (x, y, z, visibility) + 21 lh + 21 rh x (x, y, z)
    mediapipe_parts  bool [T, 3]       pose / left hand / right hand found; absent parts are zeros
    face_present     bool [T]
    fps, width, height

Only model_complexity 1 is allowed: the wheel ships ``pose_landmark_full``
only, and complexity 0 (lite) or 2 (heavy) would try to download a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MEDIAPIPE_REQUIREMENTS = ("mediapipe==0.10.21", "opencv-python-headless<4.12", "numpy<2")
VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".mkv")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
WORKER = Path(__file__).with_name("holistic_worker.py")
REPO = Path(__file__).resolve().parents[2]


class ExtractionError(RuntimeError):
    """Extraction could not run; the message names the input and the cause."""


def default_venv() -> Path:
    return Path(os.environ.get("SIGNX_EXTRACT_VENV", REPO / ".extract-venv"))


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_ready(venv: Path) -> bool:
    py = venv_python(venv)
    if not py.is_file():
        return False
    probe = subprocess.run(
        [str(py), "-c", "import mediapipe, cv2, numpy"], capture_output=True, timeout=120
    )
    return probe.returncode == 0


def ensure_venv(venv: Path | None = None, quiet: bool = False) -> Path:
    """Create the extraction venv if needed (a few minutes, once); returns its python."""
    venv = venv or default_venv()
    if venv_ready(venv):
        return venv_python(venv)
    if not quiet:
        print(f"creating the MediaPipe venv at {venv} (once) ...", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv_python(venv)), "-m", "pip", "install", "-q", *MEDIAPIPE_REQUIREMENTS],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ExtractionError(f"{' '.join(cmd)} failed:\n{tail}")
    return venv_python(venv)


def check_input(path: Path) -> None:
    if path.is_dir():
        if not any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir()):
            raise ExtractionError(f"{path}: folder has no {FRAME_SUFFIXES} frames")
    elif not path.is_file():
        raise ExtractionError(f"{path}: no such video file or frame folder")
    elif path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ExtractionError(f"{path}: unsupported suffix, expected one of {VIDEO_SUFFIXES}")


def extract(
    source: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    model_complexity: int = 1,
    static_image_mode: bool = False,
    max_frames: int | None = None,
    venv: Path | None = None,
) -> dict[str, np.ndarray]:
    """Run holistic on a video / frame folder; returns (and optionally saves) the arrays."""
    source = Path(source)
    check_input(source)
    if model_complexity != 1:
        raise ExtractionError(
            f"model_complexity {model_complexity}: only 1 ships with mediapipe 0.10.21 "
            "(0 and 2 would download a model)"
        )
    python = ensure_venv(venv)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(out) if out is not None else Path(tmp) / "landmarks.npz"
        cmd = [str(python), str(WORKER), "--input", str(source), "--out", str(target)]
        cmd += ["--model_complexity", str(model_complexity)]
        cmd += ["--static"] if static_image_mode else []
        cmd += ["--max_frames", str(max_frames)] if max_frames else []
        env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ExtractionError(f"{source}: holistic worker failed:\n{tail}")
        with np.load(target) as z:
            arrays = {k: z[k] for k in z.files}
    num_frames = arrays["mediapipe"].shape[0]
    shapes = {k: list(np.shape(v)) for k, v in arrays.items()}
    if shapes["mediapipe"] != [num_frames, 258] or shapes["mediapipe_parts"] != [num_frames, 3]:
        raise ExtractionError(f"{source}: worker wrote unexpected shapes {shapes}")
    return arrays
