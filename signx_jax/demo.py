"""The browser demo: recognise a video, a sample clip or the camera (README "Browser demo").

  python -m signx_jax.demo --model runs/demo/bundle            # http://127.0.0.1:7860
  python -m signx_jax.demo --workdir runs/demo --window 96 --stride 8

A Gradio app (the convention of ML demos) with two tabs:

* **Clip**: upload a video, record one with the camera, or pick one of the model
  bundle's sample clips (held-out test clips of its run). Recognition is
  ``signx_jax.recognize`` itself: the video plays back with the glosses as
  subtitles, a timeline shows each gloss's time span, the skeleton is the pose
  sequence the model saw (Video2Pose's prediction on the video route), and the
  WebVTT and JSON files ``recognize`` writes are offered for download.
* **Live**: recognition while a sample clip plays or the camera streams
  (``signx_jax.live``: a sliding window over the stream, CTC decoding, glosses
  emitted once stable). ``--window`` / ``--stride`` / ``--margin`` set the window.
  ``python -m signx_jax.benchmarks.live`` measures its latency.

``--screenshots DIR`` starts the app, drives both tabs in headless Chromium
(``signx_jax.browser``) and saves the README's screenshots there.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home

import numpy as np  # noqa: E402

from signx_jax import recognize  # noqa: E402
from signx_jax.live import LiveConfig, LiveRecognizer  # noqa: E402

CSS = """
.signx-timeline {position: relative; height: 46px; margin: 6px 0 18px 0;
  background: #f3f4f6; border-radius: 4px;}
.signx-seg {position: absolute; top: 4px; height: 26px; background: #2563eb; color: white;
  border-radius: 3px; font: 12px monospace; overflow: hidden; white-space: nowrap;
  padding: 4px 3px; box-sizing: border-box;}
.signx-tick {position: absolute; top: 34px; font: 10px monospace; color: #6b7280;}
.signx-live {font: 20px monospace;} .signx-pending {color: #9ca3af;}
"""


def timeline_html(segments: list[dict[str, Any]], duration: float) -> str:
    """Glosses as blocks on a time axis (left = start, width = span), with second ticks."""
    duration = max(duration, 1e-3)
    parts = [f'<div class="signx-timeline" data-duration="{duration:.3f}">']
    for seg in segments:
        left, width = 100 * seg["start"] / duration, 100 * (seg["end"] - seg["start"]) / duration
        title = f"{seg['gloss']}: {seg['start']:.2f}-{seg['end']:.2f} s (p={seg['score']:.2f})"
        parts.append(
            f'<div class="signx-seg" style="left:{left:.2f}%;width:{width:.2f}%" '
            f'title="{html.escape(title)}">{html.escape(seg["gloss"])}</div>'
        )
    for second in range(int(duration) + 1):
        parts.append(
            f'<div class="signx-tick" style="left:{100 * second / duration:.2f}%">{second}s</div>'
        )
    parts.append("</div>")
    rows = "".join(
        f"<tr><td>{html.escape(s['gloss'])}</td><td>{s['start']:.2f}</td><td>{s['end']:.2f}</td>"
        f"<td>{s['score']:.2f}</td></tr>"
        for s in segments
    )
    if rows:
        parts.append(
            "<table><tr><th>gloss</th><th>start (s)</th><th>end (s)</th><th>p</th></tr>"
            f"{rows}</table>"
        )
    return "".join(parts)


def live_html(live: LiveRecognizer | None) -> str:
    """Emitted glosses in bold, the newest window's not yet stable tail in grey."""
    if live is None:
        return '<div class="signx-live" id="live-text"></div>'
    stable, pending = html.escape(live.text), html.escape(" ".join(live.pending))
    return (
        f'<div class="signx-live" id="live-text"><b>{stable}</b> '
        f'<span class="signx-pending">{pending}</span></div>'
    )


class Demo:
    """The loaded model, its sample clips and the handlers of the app's events."""

    def __init__(self, recognizer: recognize.Recognizer, live: LiveConfig, samples_dir: str):
        self.recognizer, self.live_config = recognizer, live
        self.samples, self.samples_dir = _samples(samples_dir), samples_dir
        self.out = tempfile.mkdtemp(prefix="signx-demo-")
        if recognizer.v2p is not None:
            self.new_live().warmup()

    def sample_path(self, name: str | None) -> str | None:
        return next((s["path"] for s in self.samples if s["name"] == name), None)

    # -- Clip tab -----------------------------------------------------------------
    def recognise(self, video: str | None, route: str):
        """-> (video with subtitles, timeline, glosses, skeleton PNG, info, downloads)."""
        import gradio as gr

        from signx_jax import plots

        if not video:
            raise gr.Error("Upload a video, record one, or pick a sample clip first.")
        start = time.perf_counter()
        try:
            result = self.recognizer.recognize(video, route)
        except recognize.RecognitionError as e:
            raise gr.Error(str(e)) from e
        seconds = time.perf_counter() - start
        stem = os.path.join(tempfile.mkdtemp(dir=self.out), Path(video).stem)
        vtt, js = f"{stem}.vtt", f"{stem}.json"
        Path(vtt).write_text(recognize.to_webvtt(result.segments))
        payload = result.to_json(input=Path(video).name, route=route)
        Path(js).write_text(json.dumps(payload, indent=1))
        skeleton = plots.skeleton_frames(
            result.poses,
            result.presence,
            f"{stem}_skeleton.png",
            glosses=result.segments,
            fps=result.fps,
            title="the poses the model saw"
            + (" (Video2Pose)" if route == "video" else " (MediaPipe)"),
        )
        method, knobs = self.recognizer.decoders[route]
        reference = next((s["gloss"] for s in self.samples if s["path"] == video), None)
        info = (
            f"**route** `{route}` · **decoder** `{method}` {knobs or ''} · "
            f"{result.num_frames} frames at {result.fps:g} fps -> "
            f"{result.log_probs.shape[0]} CTC frames · {seconds:.2f} s"
        )
        if reference:
            info += f"  \n**reference** (sample clip): `{reference}`"
        duration = result.num_frames / result.fps
        return (
            gr.Video(value=video, subtitles=vtt),
            timeline_html(result.segments, duration),
            result.text or "(none recognised)",
            skeleton,
            info,
            [vtt, js],
        )

    # -- Live tab -----------------------------------------------------------------
    def new_live(self, fps: float = 25.0) -> LiveRecognizer:
        return LiveRecognizer(self.recognizer, self.live_config, fps=fps)

    def play_live(self, name: str | None):
        """A sample clip played at its frame rate through the live recogniser:
        yields (the frame on screen, the glosses so far) per frame."""
        import gradio as gr

        path = self.sample_path(name)
        if path is None:
            raise gr.Error("Pick a sample clip to play.")
        rgb, fps = recognize.read_frames(path, fps=25.0)
        live = self.new_live(fps)
        start = time.perf_counter()
        for k, frame in enumerate(rgb):
            live.push(frame)
            if k == len(rgb) - 1:
                live.flush()
            delay = start + (k + 1) / fps - time.perf_counter()
            if delay > 0:  # real time: the next frame is not there yet
                time.sleep(delay)
            status = _live_status(live, k + 1, fps) + (" · done" if k == len(rgb) - 1 else "")
            yield frame, live_html(live), status

    def camera_frame(self, frame: np.ndarray | None, state: dict | None):
        """One camera frame from the browser's stream -> (glosses so far, status, state)."""
        if frame is None:
            return live_html(None), "waiting for the camera", state
        now = time.perf_counter()
        if state is None:
            state = {"live": self.new_live(), "t0": now}
        live = state["live"]
        live.push(np.asarray(frame, np.uint8)[..., :3], t=now - state["t0"])
        return live_html(live), _live_status(live, live.num_frames, live.fps), state

    def stop_camera(self, state: dict | None):
        if state is not None:
            state["live"].flush()
            return live_html(state["live"]), "camera stopped", None
        return live_html(None), "camera stopped", None


def _live_status(live: LiveRecognizer, frames: int, fps: float) -> str:
    steps = live.step_seconds
    mean = 1000 * np.mean(steps) if steps else 0.0
    return (
        f"{frames / fps:.1f} s · window {live.config.window} frames, stride "
        f"{live.config.stride}, margin {live.config.stable_margin} · {len(steps)} windows, "
        f"{mean:.0f} ms each"
    )


def _samples(bundle_or_run: str) -> list[dict[str, Any]]:
    """The sample clips of a bundle (``samples.json``); [] when it has none."""
    index = os.path.join(bundle_or_run, "samples.json")
    if not os.path.isfile(index):
        return []
    with open(index) as f:
        rows = json.load(f)
    return [
        {
            **row,
            "name": f"{Path(row['file']).stem}: {row['gloss']}",
            "path": os.path.join(bundle_or_run, row["file"]),
        }  # fmt: skip
        for row in rows
    ]


def build_app(demo: Demo):
    """The Gradio Blocks of the demo (elem_ids are what the browser tests drive)."""
    import gradio as gr

    rec = demo.recognizer
    routes = [r for r in recognize.ROUTES if r != "video" or rec.v2p is not None]
    names = [s["name"] for s in demo.samples]
    with gr.Blocks(title="SignX in JAX") as app:
        gr.Markdown(
            f"## SignX in JAX: continuous sign language recognition\n"
            f"Model `{rec.workdir}` · {len(rec.vocab)} tokens · routes {', '.join(routes)} · "
            f"CSLR = mean of checkpoints {rec.cslr_steps}"
        )
        with gr.Tab("Clip", id="clip"):
            with gr.Row():
                with gr.Column():
                    video = gr.Video(
                        sources=["upload", "webcam"], label="video", elem_id="video-in", height=320
                    )
                    sample = gr.Radio(names, label="or a sample clip", elem_id="samples")
                    route = gr.Radio(routes, value=routes[0], label="route", elem_id="route")
                    run = gr.Button("Recognise", variant="primary", elem_id="recognise")
                with gr.Column():
                    shown = gr.Video(label="with gloss subtitles", elem_id="video-out", height=320)
                    glosses = gr.Textbox(label="glosses", elem_id="glosses")
                    timeline = gr.HTML(elem_id="timeline")
                    info = gr.Markdown(elem_id="info")
            skeleton = gr.Image(label="skeleton", elem_id="skeleton", type="filepath")
            files = gr.File(label="WebVTT and JSON", file_count="multiple", elem_id="downloads")
            sample.change(demo.sample_path, sample, video)
            run.click(
                demo.recognise, [video, route], [shown, timeline, glosses, skeleton, info, files]
            )
        with gr.Tab("Live", id="live"):
            gr.Markdown(
                f"Sliding window of {demo.live_config.window} frames every "
                f"{demo.live_config.stride} frames; a gloss appears (bold) once it ends "
                f"{demo.live_config.stable_margin} frames before the newest frame, the "
                "window's pending glosses in grey."
            )
            with gr.Row():
                with gr.Column():
                    camera = gr.Image(
                        sources=["webcam"],
                        streaming=True,
                        label="camera",
                        elem_id="camera",
                        height=320,
                        webcam_options=gr.WebcamOptions(mirror=False),  # the signer as filmed
                    )
                    live_sample = gr.Radio(
                        names, label="or play a sample clip", elem_id="live-samples"
                    )
                    play = gr.Button("Play live", elem_id="play")
                with gr.Column():
                    frame = gr.Image(label="playing", elem_id="live-frame", height=320)
                    live_text = gr.HTML(live_html(None), elem_id="live-glosses")
                    status = gr.Textbox(label="status", elem_id="live-status")
            state = gr.State(None)
            camera.stream(
                demo.camera_frame,
                [camera, state],
                [live_text, status, state],
                stream_every=0.04,  # 25 fps, the corpus frame rate
                time_limit=600,
                concurrency_limit=4,
            )
            camera.clear(demo.stop_camera, state, [live_text, status, state])
            play.click(demo.play_live, live_sample, [frame, live_text, status])
    return app


def launch(app, demo: Demo, **kwargs):
    """``app.launch`` with the demo's style and its sample clips servable."""
    return app.launch(css=CSS, allowed_paths=[os.path.abspath(demo.samples_dir)], **kwargs)


def load(model: str | None, workdir: str | None) -> tuple[recognize.Recognizer, str]:
    """(the Recognizer of a bundle or a run directory, where its sample clips are)."""
    if model:
        return recognize.Recognizer.from_pretrained(model), model
    rec = recognize.Recognizer(workdir)
    bundle = os.path.join(workdir, "bundle")
    return rec, bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m signx_jax.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model bundle (python -m signx_jax.export)")
    source.add_argument("--workdir", help="main-job run directory")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve the network")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--window", type=int, default=LiveConfig.window, help="live: frames")
    parser.add_argument("--stride", type=int, default=LiveConfig.stride, help="live: frames")
    parser.add_argument("--margin", type=int, default=None, help="live: stability margin")
    parser.add_argument("--screenshots", help="save the README's screenshots here and exit")
    args = parser.parse_args(argv)
    from signx_jax.bundle import BundleError

    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: the demo needs Gradio: pip install 'signx-jax[demo]'", file=sys.stderr)
        return 2

    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        rec, samples = load(args.model, args.workdir)
        live = LiveConfig(args.window, args.stride, args.margin)
    except (recognize.RecognitionError, BundleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    demo = Demo(rec, live, samples)
    app = build_app(demo)
    if args.screenshots:
        from signx_jax import browser

        launch(app, demo, server_name="127.0.0.1", server_port=args.port,
               prevent_thread_lock=True, quiet=True)  # fmt: skip
        try:
            for png in browser.screenshots(demo, f"http://127.0.0.1:{args.port}", args.screenshots):
                print("wrote", png)
        finally:
            app.close()
        return 0
    print(f"SignX demo on http://{args.host}:{args.port} (Ctrl+C stops it)")
    launch(app, demo, server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
