"""signx_jax.plots and its command: every picture is written, small, and computed from the
right numbers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from signx_jax import plots, recognize, schema
from signx_jax.plots import __main__ as plots_cli
from tests.runs import tiny_run

MAX_PNG_BYTES = 150_000


def _png_ok(path) -> None:
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert 2_000 < os.path.getsize(path) < MAX_PNG_BYTES


def test_drawing_never_imports_recognize():
    """One-way: recognize (its --skeleton) and the plots command use the drawing
    functions; the drawing functions take a Recognition / Recognizer as arguments."""
    import ast

    tree = ast.parse(Path(plots.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {node.module or ""} | {f"{node.module}.{a.name}" for a in node.names}
    assert not [name for name in imported if "recognize" in name]


def test_keypoints_choose_dwpose_then_mediapipe():
    frame = np.zeros(schema.POSE_DIM, np.float32)
    start, _ = schema.stream_offsets()["dwpose"]
    frame[start : start + 3] = (0.4, 0.2, 0.9)  # nose, confident
    pts, limbs, vis = plots._keypoints(frame, np.array([True, True, False, False, False]))
    assert pts.shape == (128, 2) and vis[0] and not vis[1]
    assert (0, 14) in limbs and (18, 19) in limbs  # body and left-hand bones
    pts, limbs, vis = plots._keypoints(frame, np.array([False, True, False, False, False]))
    assert pts.shape == (75, 2) and (11, 12) in limbs  # BlazePose shoulders


def test_importance_figure(tmp_path):
    sal = np.zeros(schema.POSE_DIM)
    sal[:384] = 1.0
    _png_ok(plots.importance_figure(sal, tmp_path / "imp.png"))


def test_stream_labels_stagger_only_when_names_would_touch():
    import matplotlib.pyplot as plt

    offsets = schema.stream_offsets()
    for width, wide in ((9, True), (2.5, False)):  # importance_figure's width, a narrow one
        fig, ax = plt.subplots(figsize=(width, 1))
        ax.set_xlim(0, schema.POSE_DIM)
        height = plots._stream_labels(ax, offsets)
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        plt.close(fig)
        rows = len({round(box.y0) for box in boxes})
        assert len(boxes) == len(offsets) and height == pytest.approx(2 + rows * 1.3 * 8)
        assert rows == 1 if wide else rows >= 2
        for i, a in enumerate(boxes):  # no two names overlap
            assert not any(a.overlaps(b) for b in boxes[i + 1 :])


def test_skeleton_frames(tmp_path):
    t = 20
    poses = np.zeros((t, schema.POSE_DIM), np.float32)
    start, _ = schema.stream_offsets()["dwpose"]
    kp = np.random.default_rng(0).uniform(0.2, 0.8, (t, 128, 3)).astype(np.float32)
    kp[..., 2] = 0.9
    poses[:, start : start + 384] = kp.reshape(t, -1)
    presence = np.ones((t, 5), bool)
    segs = [{"gloss": "HELLO", "start": 0.0, "end": 0.4}, {"gloss": "IX", "start": 0.4, "end": 0.8}]
    _png_ok(plots.skeleton_frames(poses, presence, tmp_path / "s.png", glosses=segs, fps=25.0))


# -- against the tiny run ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir():
    return tiny_run()


@pytest.fixture(scope="module")
def recognizer(run_dir):
    return recognize.Recognizer(run_dir, routes=("video", "pose"))


@pytest.fixture(scope="module")
def clip(run_dir):
    from signx_jax.data import shards

    return shards.open_split(os.path.join(run_dir, "data"), "dev")[0]


def test_read_scalars_and_curves(run_dir, tmp_path):
    scalars = plots.read_scalars(os.path.join(run_dir, "stage3", "tb"))
    steps, loss = scalars["loss"]
    assert steps[-1] == 20 and np.all(np.isfinite(loss))
    assert "dev_wer" in scalars
    _png_ok(plots.training_curves(run_dir, tmp_path / "curves.png"))
    with pytest.raises(FileNotFoundError, match="no TensorBoard events"):
        plots.training_curves(tmp_path, tmp_path / "none.png")


def test_wer_by_length(run_dir, tmp_path):
    _png_ok(plots.wer_by_length(run_dir, tmp_path / "wer.png"))
    assert not (tmp_path / "wer_by_length.png").exists()  # no stray copy beside it


def test_alignment_figure(recognizer, clip, tmp_path):
    result = recognizer.from_rgb(np.asarray(clip["rgb"]), clip["fps"])
    out = plots.alignment_figure(
        result, tmp_path / "fig7.png", vocab=recognizer.vocab, reference=clip["gloss"]
    )
    _png_ok(out)


def test_commands_without_video2pose(run_dir, tmp_path):
    """importance (any --route) and the pose route's pictures load no stage 2."""
    import shutil

    workdir = tmp_path / "run"
    for part in ("data", "stage1", "stage3"):
        shutil.copytree(os.path.join(run_dir, part), workdir / part)
    for argv in (["importance", "--num_clips", "1"], ["skeleton", "--route", "pose"]):
        out = tmp_path / f"{argv[0]}.png"
        assert plots_cli.main(argv + ["--workdir", str(workdir), "--out", str(out)]) == 0
        _png_ok(out)


def test_saliency_is_zero_on_absent_streams(recognizer, clip):
    clip = dict(clip, poses=dict(clip["poses"]), presence=np.array(clip["presence"]))
    depth = schema.STREAM_NAMES.index("primedepth")
    clip["poses"]["primedepth"] = np.zeros_like(clip["poses"]["primedepth"])
    clip["presence"][:, depth] = False
    sal = plots.modality_saliency(recognizer, [clip])
    a, b = schema.stream_offsets()["primedepth"]
    assert sal.shape == (schema.POSE_DIM,) and np.all(np.isfinite(sal)) and np.all(sal >= 0)
    assert np.all(sal[a:b] == 0)  # gradient x input vanishes where the input is zero
    assert sal[:a].sum() > 0 and sal[b:].sum() > 0


def test_all_writes_the_committed_file_names(run_dir, tmp_path):
    """``plots all`` writes the pictures under the names colab/figures and the README use."""
    figures = Path(__file__).parents[1] / "colab" / "figures"
    assert sorted(plots_cli.FILE_NAMES.values()) == sorted(p.name for p in figures.glob("*.png"))
    argv = ["all", "--workdir", run_dir, "--out_dir", str(tmp_path), "--split", "dev"]
    assert plots_cli.main(argv + ["--num_clips", "1"]) == 0
    assert sorted(os.listdir(tmp_path)) == sorted(plots_cli.FILE_NAMES.values())
    for name in plots_cli.FILE_NAMES.values():
        _png_ok(tmp_path / name)
