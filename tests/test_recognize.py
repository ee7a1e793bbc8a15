"""signx_jax.recognize: spans, subtitles, input errors, and both routes on a tiny run.

The model tests share one tiny main-job run (``recognize.tiny_run``: trained
once by ``python -m signx_jax.main --config configs/demo.py:tiny`` and cached
under the temp dir). A 20-step model recognises little, so they check the
plumbing (frames in, CTC frames and spans out), not accuracy.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from signx_jax import recognize, schema
from signx_jax.data.vocab import Vocabulary
from signx_jax.recognize import RecognitionError

BLANK = schema.BLANK_ID


def _log_probs(best: list[int], vocab_size: int) -> np.ndarray:
    """CTC log-posteriors whose argmax per frame is ``best`` (p = 0.9)."""
    p = np.full((len(best), vocab_size), 0.1 / (vocab_size - 1))
    p[np.arange(len(best)), best] = 0.9
    return np.log(p)


def test_decode_segments_times_from_forced_alignment():
    vocab = Vocabulary(list(schema.SPECIAL_TOKENS) + ["HELLO", "WORLD"])
    a, b = vocab.token_to_id("HELLO"), vocab.token_to_id("WORLD")
    # CTC frames: blank HELLO HELLO blank WORLD blank; 24 input frames -> 4 frames each.
    lp = _log_probs([BLANK, a, a, BLANK, b, BLANK], len(vocab))
    glosses, segs = recognize.decode_segments(lp, num_frames=24, fps=25.0, vocab=vocab)
    assert glosses == ["HELLO", "WORLD"]
    # Blanks go to the preceding gloss (the first gloss before any emission).
    assert [s["ctc_frames"] for s in segs] == [[0, 4], [4, 6]]
    assert [(s["start_frame"], s["end_frame"]) for s in segs] == [(0, 16), (16, 24)]
    assert [(s["start"], s["end"]) for s in segs] == [(0.0, 0.64), (0.64, 0.96)]
    assert segs[0]["score"] == pytest.approx(0.9)


def test_decode_segments_nothing_emitted():
    vocab = Vocabulary(list(schema.SPECIAL_TOKENS) + ["HELLO"])
    assert recognize.decode_segments(_log_probs([BLANK] * 5, len(vocab)), 20, 25.0, vocab) == (
        [],
        [],
    )


def test_webvtt():
    segs = [
        {"gloss": "HELLO", "start": 0.0, "end": 0.64},
        {"gloss": "IX", "start": 61.5, "end": 3723.25},
    ]
    assert recognize.to_webvtt(segs) == (
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:00.640\nHELLO\n\n"
        "2\n00:01:01.500 --> 01:02:03.250\nIX\n"
    )


def test_mediapipe_only_layout():
    mp = np.arange(3 * 258, dtype=np.float32).reshape(3, 258)
    poses, presence = recognize.mediapipe_only(mp, np.array([True, False, True]))
    start, end = schema.stream_offsets()["mediapipe"]
    np.testing.assert_array_equal(poses[:, start:end], mp)
    assert poses[:, :start].sum() == 0 and poses[:, end:].sum() == 0
    assert presence.tolist() == [
        [False, True, False, False, False],
        [False] * 5,
        [False, True, False, False, False],
    ]


def test_resize_frames_centre_crop():
    rgb = np.zeros((2, 40, 60, 3), np.uint8)
    rgb[:, :, 10:50] = 255  # the central 40x40 square is white, the sides black
    out = recognize.resize_frames(rgb, 20)
    assert out.shape == (2, 20, 20, 3) and out.min() == 255


def test_input_errors(tmp_path):
    with pytest.raises(RecognitionError, match="OpenCV cannot open this video"):
        (tmp_path / "broken.mp4").write_bytes(b"not a video")
        recognize.read_frames(tmp_path / "broken.mp4", fps=25.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecognitionError, match="has no"):
        recognize.read_frames(tmp_path / "empty", fps=25.0)
    with pytest.raises(RecognitionError, match="not a readable .npz"):
        (tmp_path / "bad.npz").write_bytes(b"zip?")
        recognize.read_mediapipe(tmp_path / "bad.npz", fps=25.0)


# -- against a tiny trained run ------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir():
    return recognize.tiny_run()


@pytest.fixture(scope="module")
def recognizer(run_dir):
    return recognize.Recognizer(run_dir, routes=("rgb", "pose"))


def _write_mp4(path, rgb, fps=25.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, rgb.shape[2:0:-1])
    for frame in rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_recognize_command_rgb_route(run_dir, tmp_path, capsys):
    from signx_jax.data import shards

    clip = shards.open_split(os.path.join(run_dir, "data"), "test")[0]
    rgb = np.asarray(clip["rgb"])
    # An upscaled, wider-than-tall video: the command must crop and resize it back.
    big = np.stack([cv2.resize(f, (96, 64)) for f in rgb])
    _write_mp4(tmp_path / "clip.mp4", big)
    code = recognize.main(
        [
            "--workdir",
            run_dir,
            "--input",
            str(tmp_path / "clip.mp4"),
            "--route",
            "rgb",
            "--vtt",
            str(tmp_path / "clip.vtt"),
            "--json",
            str(tmp_path / "clip.json"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{len(rgb)} frames at 25 fps, route rgb" in printed and "glosses:" in printed
    result = json.loads((tmp_path / "clip.json").read_text())
    assert result["num_frames"] == len(rgb) and result["ctc_frames"] == len(rgb) // 4
    assert (tmp_path / "clip.vtt").read_text().startswith("WEBVTT\n")
    spans = [(s["start"], s["end"]) for s in result["segments"]]
    assert all(0 <= a < b <= len(rgb) / 25.0 + 1e-6 for a, b in spans)
    assert spans == sorted(spans)


def test_rgb_route_matches_latent_cache(recognizer, run_dir):
    """The command's video route gives the latents the main job cached for CSLR."""
    from signx_jax.data import shards

    clip = shards.open_split(os.path.join(run_dir, "data"), "dev")[1]
    cached = shards.open_split(os.path.join(run_dir, "latents", "video"), "dev")
    (row,) = [r for r in (cached[i] for i in range(len(cached))) if r["clip_id"] == clip["clip_id"]]
    result = recognizer.from_rgb(np.asarray(clip["rgb"]), clip["fps"])
    np.testing.assert_allclose(result.latent, np.asarray(row["latent"]), atol=2e-3, rtol=2e-3)


def test_short_clip_and_no_person(recognizer, tmp_path):
    need = recognizer.min_frames
    assert need == 4  # same-padded conv, two levels of pool 2
    rgb = np.zeros((need - 1, 32, 32, 3), np.uint8)
    with pytest.raises(RecognitionError, match=f"3 frames; the model needs at least {need}"):
        recognizer.from_rgb(rgb, 25.0)
    np.savez(
        tmp_path / "empty.npz",
        mediapipe=np.zeros((30, 258), np.float32),
        mediapipe_parts=np.zeros((30, 3), bool),
        fps=25.0,
    )
    with pytest.raises(RecognitionError, match="no person detected"):
        recognizer.recognize(str(tmp_path / "empty.npz"), "pose")
    with pytest.raises(RecognitionError, match="no such file"):
        recognizer.recognize(str(tmp_path / "missing.mp4"), "rgb")
    with pytest.raises(RecognitionError, match="rgb route needs a video"):
        recognizer.recognize(str(tmp_path / "empty.npz"), "rgb")


def _extract_venv_or_skip():
    from data_pipelines.extract import mediapipe_extract as mpx

    if mpx.venv_ready(mpx.default_venv()):
        return
    if os.environ.get("SIGNX_SKIP_EXTRACT_SETUP"):
        pytest.skip(
            "no MediaPipe venv (.extract-venv); run python -m data_pipelines.extract --setup"
        )
    try:
        mpx.ensure_venv(quiet=True)
    except mpx.ExtractionError as e:
        pytest.skip(f"cannot create the MediaPipe venv (.extract-venv): {e}")


def test_pose_route_mediapipe_on_astronaut(recognizer, tmp_path):
    _extract_venv_or_skip()
    from skimage import data as skdata

    frames = tmp_path / "astronaut"
    frames.mkdir()
    bgr = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    for i in range(12):
        cv2.imwrite(str(frames / f"{i:03d}.png"), bgr)
    result = recognizer.recognize(str(frames), "pose", fps=12.0)
    mp_col = schema.STREAM_NAMES.index("mediapipe")
    assert result.presence[:, mp_col].all()  # MediaPipe finds her in every frame
    assert not np.delete(result.presence, mp_col, axis=1).any()  # the other streams are absent
    start, _ = schema.stream_offsets()["mediapipe"]
    nose_xy = result.poses[:, start : start + 2]
    assert np.all((nose_xy > 0.2) & (nose_xy < 0.8))  # her face is mid-image
    assert result.log_probs.shape == (3, len(recognizer.vocab))
    assert np.allclose(np.exp(result.log_probs).sum(-1), 1.0, atol=1e-4)
    assert result.to_json()["glosses"] == result.text
