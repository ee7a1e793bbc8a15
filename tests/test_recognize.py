"""signx_jax.recognize: spans, subtitles, input errors, and both routes on a tiny run.

The model tests share one tiny main-job run (``tests.runs.tiny_run``: trained
once by ``python -m signx_jax.main --config configs/demo.py:tiny`` and cached
under the temp dir). A 20-step model emits only blanks, so the command tests
lower the blank's log-probability (``glosses_emitted``): the same model's
likeliest glosses then come out, with spans, WebVTT and JSON to check. They
check the plumbing, not accuracy.
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
from tests.runs import blank_lowered, tiny_run

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
    glosses, segs = recognize.decode_segments([a, b], lp, num_frames=24, fps=25.0, vocab=vocab)
    assert glosses == ["HELLO", "WORLD"]
    # Blanks go to the preceding gloss (the first gloss before any emission).
    assert [s["ctc_frames"] for s in segs] == [[0, 4], [4, 6]]
    assert [(s["start_frame"], s["end_frame"]) for s in segs] == [(0, 16), (16, 24)]
    assert [(s["start"], s["end"]) for s in segs] == [(0.0, 0.64), (0.64, 0.96)]
    assert segs[0]["score"] == pytest.approx(0.9)
    # The decoded glosses are aligned, whatever CTC greedy would say (joint decoding
    # may drop or add a gloss): WORLD alone takes every frame from its first emission.
    glosses, segs = recognize.decode_segments([b], lp, num_frames=24, fps=25.0, vocab=vocab)
    assert glosses == ["WORLD"] and [s["ctc_frames"] for s in segs] == [[0, 6]]


def test_decode_segments_nothing_emitted():
    vocab = Vocabulary(list(schema.SPECIAL_TOKENS) + ["HELLO"])
    lp = _log_probs([BLANK] * 5, len(vocab))
    assert recognize.decode_segments([], lp, 20, 25.0, vocab) == ([], [])


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
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "000.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "frames" / "001.png").write_bytes(b"not a png")
    with pytest.raises(RecognitionError, match=r"001\.png: unreadable image"):
        recognize.read_frames(tmp_path / "frames", fps=25.0)


def _moving_bar(num_frames: int = 10) -> np.ndarray:
    rgb = np.zeros((num_frames, 48, 64, 3), np.uint8)
    for t in range(num_frames):
        rgb[t, :, 5 * t : 5 * t + 10] = (255, 128, 0)
    return rgb


@pytest.mark.parametrize("suffix,codec", [(".mp4", "mp4v"), (".avi", "MJPG"), (".webm", "VP80")])
def test_read_frames_video_formats(tmp_path, suffix, codec):
    rgb = _moving_bar()
    path = tmp_path / f"clip{suffix}"
    _write_video(path, rgb, fps=12.0, codec=codec)
    frames, fps = recognize.read_frames(path, fps=25.0)
    assert frames.shape == rgb.shape and fps == 12.0  # the container's rate, not the default
    assert np.abs(frames.astype(int) - rgb).mean() < 8  # lossy codecs, same pictures


def test_read_frames_folder_in_natural_order(tmp_path):
    rgb = _moving_bar(11)
    for t, frame in enumerate(rgb):  # 0.png .. 10.png: "10" sorts before "2" as text
        cv2.imwrite(str(tmp_path / f"{t}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    frames, fps = recognize.read_frames(tmp_path, fps=30.0)
    np.testing.assert_array_equal(frames, rgb)
    assert fps == 30.0


def test_command_checks_the_input_before_loading_models(tmp_path, capsys):
    """Input mistakes are reported before (and without) a run directory."""
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "clip.pose").write_bytes(b"")
    no_run = str(tmp_path / "no-run")
    for name, route, message in [
        ("missing.mp4", "video", "missing.mp4: no such file or folder"),
        ("notes.txt", "pose", "unsupported file type '.txt'"),
        ("clip.pose", "video", "the video route needs a video or a frame folder"),
    ]:
        argv = ["--workdir", no_run, "--input", str(tmp_path / name), "--route", route]
        assert recognize.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err


def test_route_is_called_video(tmp_path, capsys):
    """The deployed route has the main job's name; --route rgb says so."""
    with pytest.raises(SystemExit) as exit_info:
        recognize.main(["--workdir", str(tmp_path), "--input", "clip.mp4", "--route", "rgb"])
    assert exit_info.value.code == 2
    assert "use --route video" in capsys.readouterr().err
    with pytest.raises(RecognitionError, match="routes must be among"):
        recognize.Recognizer(str(tmp_path), routes=("rgb",))


def _write_video(path, rgb, fps=25.0, codec="mp4v"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, rgb.shape[2:0:-1])
    assert writer.isOpened(), f"OpenCV cannot write {codec} to {path}"
    for frame in rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


# -- against a tiny trained run ------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir():
    return tiny_run()


@pytest.fixture(scope="module")
def recognizer(run_dir):
    return recognize.Recognizer(run_dir, routes=("video", "pose"))


@pytest.fixture
def glosses_emitted(monkeypatch):
    """Every Recognizer decodes CTC greedy with the blank lowered by 100 nats (the tiny
    run's model may emit nothing)."""
    monkeypatch.setattr(recognize.Recognizer, "decode", blank_lowered(recognize.Recognizer.decode))


def _check_outputs(printed: str, out_dir, num_frames: int, fps: float) -> dict:
    """The glosses the command printed, and wrote as JSON and WebVTT, agree and are timed."""
    result = json.loads((out_dir / "clip.json").read_text())
    segments = result["segments"]
    assert segments, "no glosses came out"
    assert result["glosses"] == " ".join(s["gloss"] for s in segments)
    assert f"glosses: {result['glosses']}" in printed
    spans = [(s["start"], s["end"]) for s in segments]
    assert all(0 <= a < b <= num_frames / fps + 1e-6 for a, b in spans)
    assert spans == sorted(spans)
    vtt = (out_dir / "clip.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    assert [line for line in vtt.splitlines() if "-->" in line] == [
        f"{recognize._vtt_time(a)} --> {recognize._vtt_time(b)}" for a, b in spans
    ]
    return result


def _command(run_dir, path, route, out_dir, *extra) -> int:
    return recognize.main(
        ["--workdir", run_dir, "--input", str(path), "--route", route, *extra]
        + ["--vtt", str(out_dir / "clip.vtt"), "--json", str(out_dir / "clip.json")]
    )


def test_recognize_command_video_route(run_dir, tmp_path, capsys, glosses_emitted):
    from signx_jax.data import shards

    clip = shards.open_split(os.path.join(run_dir, "data"), "test")[0]
    rgb = np.asarray(clip["rgb"])
    # An upscaled, wider-than-tall video: the command must crop and resize it back.
    big = np.stack([cv2.resize(f, (96, 64)) for f in rgb])
    _write_video(tmp_path / "clip.mp4", big)
    assert _command(run_dir, tmp_path / "clip.mp4", "video", tmp_path) == 0
    printed = capsys.readouterr().out
    assert f"{len(rgb)} frames at 25 fps, route video" in printed
    result = _check_outputs(printed, tmp_path, len(rgb), 25.0)
    assert result["num_frames"] == len(rgb) and result["ctc_frames"] == len(rgb) // 4


def test_recognize_command_pose_file(run_dir, tmp_path, capsys, glosses_emitted):
    """A pose-format .pose (MediaPipe holistic layout) on the pose route."""
    from tests.data_pipelines import fixtures

    fixtures.write_holistic_pose(tmp_path / "clip.pose", 24)  # 25 fps in its header
    assert _command(run_dir, tmp_path / "clip.pose", "pose", tmp_path, "--fps", "10") == 0
    printed = capsys.readouterr().out
    assert "24 frames at 25 fps, route pose (streams: mediapipe); 6 CTC frames" in printed
    _check_outputs(printed, tmp_path, 24, 25.0)


def test_video_route_matches_latent_cache(recognizer, run_dir):
    """The command's video route gives the latents the main job cached for CSLR."""
    from signx_jax.data import shards

    clip = shards.open_split(os.path.join(run_dir, "data"), "dev")[1]
    cached = shards.open_split(os.path.join(run_dir, "latents", "video"), "dev")
    (row,) = [r for r in (cached[i] for i in range(len(cached))) if r["clip_id"] == clip["clip_id"]]
    result = recognizer.from_rgb(np.asarray(clip["rgb"]), clip["fps"])
    np.testing.assert_allclose(result.latent, np.asarray(row["latent"]), atol=2e-3, rtol=2e-3)


def test_decodes_as_the_release_step(recognizer, run_dir):
    """Each route decodes with the decoder the evaluate step chose on dev (decoding.json)
    and gives the hypotheses the report scored for the same latents."""
    from signx_jax.data import shards

    with open(os.path.join(run_dir, "stage3", "decoding.json")) as f:
        chosen = json.load(f)["routes"]
    with open(os.path.join(run_dir, "report", "hypotheses.json")) as f:
        report = json.load(f)
    for route in ("video", "pose"):
        assert recognizer.decoders[route] == (chosen[route]["method"], chosen[route]["knobs"])
        cached = shards.open_split(os.path.join(run_dir, "latents", route), "test")
        hyps = report[f"{route} / test / dev-chosen"]["hyps"]
        for i in range(3):
            ids, log_probs = recognizer.decode(np.asarray(cached[i]["latent"], np.float32), route)
            assert " ".join(recognizer.vocab.id_to_token(g) for g in ids) == hyps[i]
            assert log_probs.shape == (len(cached[i]["latent"]) // 4, len(recognizer.vocab))


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
        recognizer.recognize(str(tmp_path / "missing.mp4"), "video")
    with pytest.raises(RecognitionError, match="video route needs a video"):
        recognizer.recognize(str(tmp_path / "empty.npz"), "video")


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


def test_pose_route_command_on_astronaut(run_dir, tmp_path, capsys, monkeypatch, glosses_emitted):
    """A real photograph of a person as a frame folder: MediaPipe holistic -> glosses."""
    _extract_venv_or_skip()
    from skimage import data as skdata

    frames = tmp_path / "astronaut"
    frames.mkdir()
    bgr = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    for i in range(12):
        cv2.imwrite(str(frames / f"{i:03d}.png"), bgr)
    results = []  # what the command's Recognizer returned, to look at the landmarks
    from_clip = recognize.Recognizer.from_clip
    monkeypatch.setattr(
        recognize.Recognizer,
        "from_clip",
        lambda self, *a, **k: results.append(from_clip(self, *a, **k)) or results[-1],
    )
    assert _command(run_dir, frames, "pose", tmp_path, "--fps", "12") == 0
    printed = capsys.readouterr().out
    assert "12 frames at 12 fps, route pose (streams: mediapipe); 3 CTC frames" in printed
    _check_outputs(printed, tmp_path, 12, 12.0)
    (result,) = results
    mp_col = schema.STREAM_NAMES.index("mediapipe")
    assert result.presence[:, mp_col].all()  # MediaPipe finds her in every frame
    assert not np.delete(result.presence, mp_col, axis=1).any()  # the other streams are absent
    start, _ = schema.stream_offsets()["mediapipe"]
    nose_xy = result.poses[:, start : start + 2]
    assert np.all((nose_xy > 0.2) & (nose_xy < 0.8))  # her face is mid-image
    assert np.allclose(np.exp(result.log_probs).sum(-1), 1.0, atol=1e-4)


def test_checkpoint_of_another_model_is_a_clear_error(run_dir, tmp_path):
    """A stage whose checkpoint holds another model (an older revision's) is
    refused with the directory named, not an orbax traceback."""
    import shutil

    from signx_jax.train import tasks

    stage = tmp_path / "stage2"
    shutil.copytree(os.path.join(run_dir, "stage2"), stage)
    for meta in stage.glob("checkpoints/*/config/metadata"):
        cfg = json.loads(meta.read_text())
        cfg["model"]["mlp"] *= 2  # the code now builds a wider MLP than was saved
        meta.write_text(json.dumps(cfg))
    vocab = Vocabulary.load(os.path.join(run_dir, "data", "vocab.json"))
    with pytest.raises(
        RecognitionError, match=r"checkpoints: its newest checkpoint does not match"
    ):
        recognize._restore_stage(str(stage), lambda c: tasks.Video2PoseTask(c, len(vocab)))


@pytest.fixture
def no_models(monkeypatch):
    """Loading a model fails the test: the input checks must come first."""

    def load(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(recognize, "Recognizer", load)
    monkeypatch.setattr(recognize, "_restore_stage", load)


@pytest.mark.parametrize("content", [b"", b"not a video"])
def test_command_rejects_an_undecodable_video_before_loading_models(
    tmp_path, capsys, no_models, content
):
    (tmp_path / "clip.mp4").write_bytes(content)
    argv = ["--workdir", str(tmp_path), "--input", str(tmp_path / "clip.mp4")]
    assert recognize.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'clip.mp4'}: ") and err.count("\n") == 1, err


def test_command_rejects_a_short_video_before_loading_models(
    tmp_path, capsys, monkeypatch, no_models
):
    _write_video(tmp_path / "clip.avi", _moving_bar(3), codec="MJPG")
    asked = []
    monkeypatch.setattr(recognize, "run_min_frames", lambda w: asked.append(w) or 8)
    argv = ["--workdir", str(tmp_path), "--input", str(tmp_path / "clip.avi")]
    assert recognize.main(argv) == 2
    assert asked == [str(tmp_path)]  # read from the run's saved config, no model built
    err = capsys.readouterr().err
    assert "clip.avi: 3 frames; the model needs at least 8" in err, err


def test_cslr_min_frames_matches_the_conv_lengths():
    from configs.demo import get_config
    from signx_jax.models import temporal

    model_cfg = get_config("tiny").stage3.model
    n = recognize.cslr_min_frames(model_cfg)
    spec = temporal.ConvSpec.from_config(model_cfg)
    lengths = np.asarray(temporal.conv_output_lengths(spec, np.arange(1, n + 1)))
    assert lengths[-1] >= 1 and (n == 1 or lengths[-2] == 0)
