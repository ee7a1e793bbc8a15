"""Live recognition (``signx_jax/live.py``): the sliding-window rules on a scripted
model, then the real stages of a tiny run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from signx_jax import live as live_lib
from signx_jax.live import LiveConfig, LiveRecognizer, greedy_segments
from signx_jax.schema import BLANK_ID as BLANK
from tests.runs import tiny_run

FPS = 25.0


class _Vocab:
    def id_to_token(self, i: int) -> str:
        return f"G{i}"


class ScriptedRecognizer:
    """A Recognizer whose 'model' reads each frame's gloss id from its pixels: a
    frame of value g > 0 is gloss g (0 = blank), so the best path of any window is known.
    CTC frames = input frames // 2 (the max of each pair), as a strided CSLR."""

    image_size, min_frames, v2p = 8, 4, object()
    vocab = _Vocab()

    def __init__(self):
        self.windows = []  # (frames, pad_to) of each window

    def poses_from_rgb(self, rgb, pad_to=None):
        self.windows.append((len(rgb), pad_to))
        return rgb[:, 0, 0, :1].astype(np.float32)

    def latent(self, poses, presence, pad_to=None):
        return poses

    def decode(self, z, route, method=None, pad_to=None):
        assert method == live_lib.GREEDY and route == "video"
        ids = z[:, 0].astype(int)
        ids = np.maximum(ids[0::2], ids[1::2]) if len(ids) % 2 == 0 else ids[::2]
        ids = np.where(ids == 0, BLANK, ids)
        log_probs = np.full((len(ids), 10), -20.0)
        log_probs[np.arange(len(ids)), ids] = 0.0
        return [], log_probs


def _stream(signs: list[tuple[int, int]], rest: int = 6) -> tuple[np.ndarray, list[tuple]]:
    """Frames for signs [(gloss id, frames)] separated by ``rest`` blank frames ->
    (rgb [T, 8, 8, 3], [(gloss, start, end)])."""
    values, truth = [0] * rest, []
    for gid, n in signs:
        truth.append((f"G{gid}", len(values), len(values) + n))
        values += [gid] * n + [0] * rest
    rgb = np.repeat(np.asarray(values, np.uint8)[:, None, None, None], 8, 1)
    return np.repeat(np.repeat(rgb, 8, 2), 3, 3), truth


def test_greedy_segments_map_ctc_frames_to_input_frames():
    lp = np.full((6, 5), -9.0)
    for k, g in enumerate([BLANK, 3, 3, BLANK, 2, 2]):
        lp[k, g] = -0.1
    segs = greedy_segments(lp, num_frames=24)  # 4 input frames per CTC frame
    assert [(s["id"], s["start_frame"], s["end_frame"]) for s in segs] == [(3, 4, 12), (2, 16, 24)]
    assert all(0 < s["score"] <= 1 for s in segs)


@pytest.mark.parametrize("window,stride", [(16, 4), (24, 8), (40, 2)])
def test_each_sign_is_emitted_once_after_it_ends(window, stride):
    """A long stream through a short window: every sign once, in order, at its frames,
    never before it is ``margin`` frames old, and at most a stride plus the margin
    (and one agreeing window) after."""
    rgb, truth = _stream([(5, 8), (6, 6), (5, 10), (8, 6), (9, 8)] * 3)
    rgb = np.concatenate([rgb, np.zeros_like(rgb[: 2 * window])])  # rest after the last sign
    config = LiveConfig(window=window, stride=stride)
    live = LiveRecognizer(ScriptedRecognizer(), config, fps=FPS)
    emitted = []
    for k, frame in enumerate(rgb):
        for gloss in live.push(frame):
            emitted.append((gloss, k + 1))
    assert [g["gloss"] for g, _ in emitted] == [name for name, _, _ in truth]
    for (gloss, seen), (_, start, end) in zip(emitted, truth, strict=True):
        assert abs(gloss["start_frame"] - start) <= 1 and abs(gloss["end_frame"] - end) <= 1
        assert gloss["emitted_at_frame"] == seen
        assert end + config.stable_margin <= seen <= end + config.stable_margin + 2 * stride + 1
        assert gloss["start"] == pytest.approx(gloss["start_frame"] / FPS, abs=1e-3)
    assert live.flush() == [] and live.text == " ".join(name for name, _, _ in truth)


def test_flush_emits_the_sign_the_stream_ends_in():
    rgb, truth = _stream([(7, 8), (6, 8)], rest=0)
    live = LiveRecognizer(ScriptedRecognizer(), LiveConfig(window=32, stride=4), fps=FPS)
    for frame in rgb:
        live.push(frame)
    assert live.text == "G7" and live.pending == ["G6"]  # G6 runs to the newest frame
    assert [g["gloss"] for g in live.flush()] == ["G6"] and live.text == "G7 G6"


def test_camera_frames_are_put_on_the_model_clock():
    """push(frame, t): slow cameras are held frame by frame, fast ones replace the newest
    slot; a stream far behind runs one window, not a queue of them."""
    rec = ScriptedRecognizer()
    live = LiveRecognizer(rec, LiveConfig(window=32, stride=4), fps=10.0)
    frame = np.zeros((8, 8, 3), np.uint8)
    live.push(frame, t=0.0)
    live.push(frame, t=0.05)  # same 10 fps slot
    assert live.num_frames == 1
    live.push(frame, t=0.5)  # 5 slots later: held
    assert live.num_frames == 6 and len(rec.windows) == 1
    live.push(frame, t=3.0)  # 25 frames behind: one window of the newest 31 frames... (32 max)
    assert live.num_frames == 31 and len(rec.windows) == 2 and rec.windows[-1] == (31, 32)


def test_window_and_stride_are_checked():
    with pytest.raises(ValueError, match="stride <= window"):
        LiveConfig(window=8, stride=16)
    with pytest.raises(ValueError, match="minimum of 4 frames"):
        LiveRecognizer(ScriptedRecognizer(), LiveConfig(window=2, stride=1))


# -- the real stages -------------------------------------------------------------------


@pytest.fixture(scope="module")
def recognizer():
    from signx_jax import recognize

    return recognize.Recognizer.from_pretrained(os.path.join(tiny_run(), "bundle"))


def test_a_window_is_one_compiled_shape_and_matches_whole_clip_recognition(recognizer):
    """The live path runs the deployed stages: windows of any fill share one compiled
    shape, and a window holding the whole clip gives whole-clip recognition's best path."""
    from signx_jax.data import shards

    clip = shards.open_split(os.path.join(tiny_run(), "data"), "test")[0]
    rgb, fps = np.asarray(clip["rgb"]), clip["fps"]
    window = -(-len(rgb) // 16) * 16 + 16
    live = LiveRecognizer(recognizer, LiveConfig(window=window, stride=8), fps=fps)
    live.warmup()
    compiled = recognizer._video2pose._cache_size()
    live.run(rgb)
    assert recognizer._video2pose._cache_size() == compiled
    assert len(live.step_seconds) == len(rgb) // 8 + 1  # a window per stride, and the flush

    once = LiveRecognizer(recognizer, LiveConfig(window=window, stride=len(rgb) + 1), fps=fps)
    once.run(rgb)  # no window before the end: the flush sees the whole clip
    whole = recognizer.from_rgb(rgb, fps)
    best = greedy_segments(whole.log_probs, len(rgb))
    assert once.text == " ".join(recognizer.vocab.id_to_token(s["id"]) for s in best)
    assert [g["start_frame"] for g in once.emitted] == [s["start_frame"] for s in best]


# -- the latency benchmark ---------------------------------------------------------------


def test_benchmark_scores_latency_from_each_signs_end():
    """Two clips back to back through the scripted model: every sign found, each gloss
    attributed to its clip, latency = emission time - the sign's end."""
    from signx_jax.benchmarks import live as bench

    clips = []
    for signs in ([(5, 8), (6, 6)], [(7, 10)]):
        rgb, truth = _stream(signs)
        clips.append({"rgb": rgb, "fps": FPS, "gloss": " ".join(t[0] for t in truth),
                      "gloss_spans": np.array([t[1:] for t in truth])})  # fmt: skip
    rgb, signs = bench.session(clips)
    assert [s[3] for s in signs] == [0, 0, 1] and signs[2][1] == len(clips[0]["rgb"]) + 6
    live = LiveRecognizer(ScriptedRecognizer(), LiveConfig(window=24, stride=4), fps=FPS)
    out = bench.stream(live, rgb)
    scored = bench.score(out, signs, clips, FPS)
    assert scored["hyps"] == ["G5 G6", "G7"]
    assert len(scored["lat"]) == 3
    for g, (_, _, end, _), lat in zip(out, signs, scored["lat"], strict=True):
        assert lat == pytest.approx(g["emitted_s"] - end / FPS)
        assert (end + 4) / FPS <= g["emitted_s"] <= (end + 4 + 9) / FPS + 0.5  # margin, strides


def test_benchmark_command_on_a_run(tmp_path):
    from signx_jax.benchmarks import live as bench

    run = tiny_run()
    argv = ["--workdir", run, "--model", os.path.join(run, "bundle"), "--clips", "3",
            "--windows", "32", "--strides", "8", "--out", str(tmp_path)]  # fmt: skip
    assert bench.main(argv) == 0
    result = json.load(open(tmp_path / "live.json"))
    assert [r["mode"] for r in result["rows"]] == ["clip", "session"] and result["clips"] == 3
    for row in result["rows"]:
        assert row["window"] == 32 and row["signs"] > 0 and row["real_time_factor"] > 0
    table = (tmp_path / "live.md").read_text()
    assert table.count("\n| clip | 32 | 8 |") == 1 and "Whole-clip WER" in table
