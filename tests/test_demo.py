"""The web demo (``signx_jax/demo.py``): its handlers, then the app in a real headless
Chromium (``signx_jax/browser.py``): a sample clip recognised, a sample played live,
the fake camera streaming a synthetic clip while glosses appear.

The tiny run's model may emit nothing (it trains for seconds), so these tests lower
the CTC blank by 100 nats: every path the page shows then carries glosses, and the
glosses are what the deployed stages decode from the lowered posteriors."""

from __future__ import annotations

import json
import os
import re
import socket

import numpy as np
import pytest

from signx_jax import browser, demo, recognize
from signx_jax.live import LiveConfig
from tests.runs import blank_lowered, tiny_run


@pytest.fixture(scope="module")
def bundle_dir():
    return os.path.join(tiny_run(), "bundle")


@pytest.fixture(scope="module")
def glosses_emitted():
    """Recognizer.decode with the blank lowered by 100 nats; CTC greedy ids."""
    patch = pytest.MonkeyPatch()
    patch.setattr(recognize.Recognizer, "decode", blank_lowered(recognize.Recognizer.decode))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def the_demo(bundle_dir, glosses_emitted):
    rec, samples = demo.load(bundle_dir, None)
    return demo.Demo(rec, LiveConfig(window=48, stride=8), samples)


def test_timeline_places_each_gloss_at_its_span():
    segs = [{"gloss": "A&B", "start": 0.5, "end": 1.5, "score": 0.9},
            {"gloss": "C", "start": 1.5, "end": 2.0, "score": 0.4}]  # fmt: skip
    page = demo.timeline_html(segs, duration=2.0)
    blocks = re.findall(r'left:([\d.]+)%;width:([\d.]+)%" title="([^"]+)">([^<]+)<', page)
    assert blocks == [("25.00", "50.00", "A&amp;B: 0.50-1.50 s (p=0.90)", "A&amp;B"),
                      ("75.00", "25.00", "C: 1.50-2.00 s (p=0.40)", "C")]  # fmt: skip
    assert page.count('class="signx-tick"') == 3 and page.count("<tr>") == 3


def test_recognise_returns_what_recognize_writes(the_demo):
    """The Clip tab's handler: subtitles, timeline, skeleton and the WebVTT / JSON files
    of ``recognize``, for a sample clip and its reference."""
    sample = the_demo.samples[0]
    shown, timeline, text, skeleton, info, files = the_demo.recognise(sample["path"], "video")
    result = the_demo.recognizer.recognize(sample["path"], "video")
    assert text == result.text and text  # the blank-lowered model emits glosses
    vtt, js = files
    subtitles = open(shown.subtitles["path"]).read()
    assert open(vtt).read() == recognize.to_webvtt(result.segments) == subtitles
    assert json.load(open(js))["segments"] == result.segments
    assert timeline.count('class="signx-seg"') == len(result.segments)
    assert os.path.getsize(skeleton) > 10_000
    assert "route** `video`" in info and sample["gloss"] in info


def test_recognise_names_the_problem(the_demo, tmp_path):
    import gradio as gr

    with pytest.raises(gr.Error, match="pick a sample clip"):
        the_demo.recognise(None, "video")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(gr.Error, match="empty.mp4: the file is empty"):
        the_demo.recognise(str(tmp_path / "empty.mp4"), "video")


def test_play_live_emits_glosses_while_the_clip_plays(the_demo):
    updates = list(the_demo.play_live(the_demo.samples[0]["name"]))
    rgb, _ = recognize.read_frames(the_demo.samples[0]["path"], fps=25.0)
    assert len(updates) == len(rgb) and updates[-1][2].endswith("done")
    shown = [re.search(r"<b>(.*)</b>", html).group(1) for _, html, _ in updates]
    assert shown[-1]  # glosses at the end, and the text only ever grows
    assert all(shown[k + 1].startswith(shown[k]) for k in range(len(shown) - 1))


# -- in a real browser -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(the_demo):
    try:
        browser.find_chromium()
    except browser.BrowserUnavailable as e:
        pytest.skip(str(e))
    app = demo.build_app(the_demo)
    port = _free_port()
    demo.launch(app, the_demo, server_name="127.0.0.1", server_port=port,
                prevent_thread_lock=True, quiet=True)  # fmt: skip
    yield f"http://127.0.0.1:{port}"
    app.close()


def test_browser_recognises_a_sample_clip(served, the_demo, tmp_path):
    driver = browser.chromium()
    try:
        text = browser.recognise_sample(driver, served, index=0)
        expected = the_demo.recognizer.recognize(the_demo.samples[0]["path"], "video").text
        assert text == expected
        segs = driver.find_elements("css selector", "#timeline .signx-seg")
        assert [s.text for s in segs] == expected.split()
        driver.save_screenshot(str(tmp_path / "clip.png"))
    finally:
        driver.quit()


def test_browser_plays_a_sample_live(served, the_demo):
    driver = browser.chromium()
    try:
        assert browser.play_sample(driver, served, index=0)
    finally:
        driver.quit()


def test_browser_camera_streams_and_glosses_appear(served, the_demo, tmp_path):
    """Chromium's fake camera plays a synthetic clip (Y4M) in a loop; the Live tab's
    stream reaches the live recogniser and glosses appear while it plays."""
    rgb, fps = recognize.read_frames(the_demo.samples[0]["path"], fps=25.0)
    fake = browser.write_y4m(tmp_path / "camera.y4m", browser._upscale(rgb), fps)
    header = open(fake, "rb").readline()
    assert header.startswith(b"YUV4MPEG2 W256 H256 F25000:1000")
    driver = browser.chromium(fake_video=fake)
    try:
        text, status = browser.live_camera(driver, served, min_glosses=1)
        assert text.split() and set(text.split()) <= set(the_demo.recognizer.vocab.tokens)
        seconds, windows = re.match(r"([\d.]+) s .* (\d+) windows", status).groups()
        assert float(seconds) > 0 and int(windows) >= 1
    finally:
        driver.quit()


def test_y4m_frames_round_trip(tmp_path):
    import cv2

    ramp = np.linspace(0, 255, 16 * 8).reshape(16, 8, 1) * np.array([1.0, 0.5, 0.2])
    rgb = np.stack([ramp, 255 - ramp, ramp[::-1]]).astype(np.uint8)  # smooth: chroma survives
    path = browser.write_y4m(tmp_path / "a.y4m", rgb, 25.0)
    data = open(path, "rb").read()
    header, rest = data.split(b"\n", 1)
    assert header == b"YUV4MPEG2 W8 H16 F25000:1000 Ip A1:1 C420jpeg"
    frames = rest.split(b"FRAME\n")[1:]
    assert len(frames) == 3 and all(len(f) == 16 * 8 * 3 // 2 for f in frames)
    back = cv2.cvtColor(np.frombuffer(frames[0], np.uint8).reshape(24, 8), cv2.COLOR_YUV2RGB_I420)
    assert np.abs(back.astype(int) - rgb[0]).mean() < 4
    with pytest.raises(ValueError, match="even frame sizes"):
        browser.write_y4m(tmp_path / "b.y4m", rgb[:, :15], 25.0)
