"""Live recognition: glosses while a video plays or a camera streams (README "Browser demo").

A sliding window over the stream: every ``stride`` frames the newest ``window``
frames go through the video route (Video2Pose -> frozen Pose2Gloss encoder ->
latent sequence -> CSLR) and the window's CTC posteriors are decoded greedily
(paper section 3.4: CTC's frame-level alignment is what makes streaming possible;
the attention decoder needs the whole sentence). A gloss is *emitted* once it is
stable: its CTC segment ends at least ``margin`` frames before the newest frame,
so more context cannot extend or replace it. Each gloss is emitted once: a
window's segment whose middle lies before the end of the last emitted gloss was
already emitted from an earlier window. ``flush`` at the end of the stream emits
what the last window still holds.

Frames that arrive at irregular times (a camera in a browser) are put on the
model's frame clock by sample-and-hold: ``push(frame, t)`` repeats the newest
frame up to time ``t``.

    live = LiveRecognizer(recognizer, LiveConfig(window=96, stride=8), fps=25)
    for frame in frames:
        for gloss in live.push(frame):
            print(gloss["gloss"], gloss["start"], gloss["end"])
    live.flush()

``python -m signx_jax.benchmarks.live`` measures the latency (end of a sign ->
its gloss emitted) and the WER against whole-clip recognition.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

import numpy as np

from signx_jax import schema
from signx_jax.recognize import RecognitionError, Recognizer, resize_frames

GREEDY = ("ctc_greedy", {})


@dataclasses.dataclass(frozen=True)
class LiveConfig:
    """Window and stride in frames; ``margin``: frames a segment must end before the
    newest frame to be stable (default: the stride, at least 4)."""

    window: int = 96
    stride: int = 8
    margin: int | None = None
    agree: bool = True

    def __post_init__(self):
        if self.stride < 1 or self.window < self.stride:
            raise ValueError(f"need 1 <= stride <= window, got {self.stride}, {self.window}")

    @property
    def stable_margin(self) -> int:
        return max(4, self.stride) if self.margin is None else self.margin


def greedy_segments(log_probs: np.ndarray, num_frames: int) -> list[dict[str, Any]]:
    """CTC log-posteriors [T', V] of ``num_frames`` input frames -> best-path
    segments {"id", "start_frame", "end_frame", "score"} (frames of the input)."""
    best = log_probs.argmax(-1)
    scale = num_frames / len(best)
    segments, k = [], 0
    while k < len(best):
        j = k
        while j + 1 < len(best) and best[j + 1] == best[k]:
            j += 1
        if best[k] != schema.BLANK_ID:
            segments.append(
                {
                    "id": int(best[k]),
                    "start_frame": int(round(k * scale)),
                    "end_frame": max(int(round(k * scale)) + 1, int(round((j + 1) * scale))),
                    "score": float(np.exp(log_probs[k : j + 1, best[k]]).max()),
                }
            )
        k = j + 1
    return segments


class LiveRecognizer:
    """A stream of RGB frames -> glosses emitted as they become stable (module docstring)."""

    def __init__(self, recognizer: Recognizer, config: LiveConfig, fps: float = 25.0):
        if recognizer.v2p is None:
            raise RecognitionError("live recognition needs the video route (stage 2)")
        if config.window < recognizer.min_frames:
            raise ValueError(
                f"window {config.window} is shorter than the CSLR's minimum of "
                f"{recognizer.min_frames} frames"
            )
        self.recognizer, self.config, self.fps = recognizer, config, fps
        self.reset()

    def reset(self) -> None:
        self.frames: collections.deque = collections.deque(maxlen=self.config.window)
        self.num_frames = 0  # frames pushed so far (on the model's clock)
        self.emitted: list[dict[str, Any]] = []
        self.committed_until = 0  # end frame of the last emitted gloss
        self.last_step = 0  # num_frames at the last window
        self.step_seconds: list[float] = []  # compute time of each window
        self.pending: list[str] = []  # the newest window's glosses not emitted yet
        self._previous: list[tuple[int, int, int]] = []  # its (id, start, end) frames

    @property
    def text(self) -> str:
        return " ".join(g["gloss"] for g in self.emitted)

    def push(self, frame: np.ndarray, t: float | None = None) -> list[dict[str, Any]]:
        """One RGB frame [H, W, 3] uint8 (any size; centre-cropped and resized), arriving
        at stream time ``t`` seconds (None: the next frame on the model's clock).
        Returns the glosses that became stable."""
        size = self.recognizer.image_size
        if frame.shape[:2] != (size, size):
            frame = resize_frames(frame[None], size)[0]
        copies = 1 if t is None else int(t * self.fps) + 1 - self.num_frames
        if copies <= 0:  # faster than the model's clock: the frame takes the newest slot
            self.frames[-1] = frame
        for _ in range(copies):
            self.frames.append(frame)
            self.num_frames += 1
        if (
            self.num_frames - self.last_step >= self.config.stride
            and len(self.frames) >= self.recognizer.min_frames
        ):  # behind the clock (a slow window): one window for the newest frames, not a queue
            return self._step(final=False)
        return []

    def warmup(self) -> None:
        """Compile the window's shapes now, not on the first frames of a stream."""
        size = self.recognizer.image_size
        for _ in range(max(self.config.stride, self.recognizer.min_frames)):
            self.push(np.zeros((size, size, 3), np.uint8))
        self.reset()

    def flush(self) -> list[dict[str, Any]]:
        """End of stream: emit every gloss the last window holds."""
        if len(self.frames) < self.recognizer.min_frames:
            return []
        return self._step(final=True)

    def _step(self, final: bool) -> list[dict[str, Any]]:
        start = time.perf_counter()
        rec = self.recognizer
        rgb = np.stack(self.frames)
        offset = self.num_frames - len(rgb)  # absolute index of the window's first frame
        pad = self.config.window  # one compiled shape for every window
        poses = rec.poses_from_rgb(rgb, pad_to=pad)
        z = rec.latent(poses, np.ones((len(rgb), len(schema.STREAMS)), bool), pad_to=pad)
        _, log_probs = rec.decode(z, "video", method=GREEDY, pad_to=pad)
        segments = greedy_segments(log_probs, len(rgb))
        horizon = self.num_frames - (0 if final else self.config.stable_margin)
        spans = [(s["id"], offset + s["start_frame"], offset + s["end_frame"]) for s in segments]
        new = []
        for seg, (gid, begin, end) in zip(segments, spans, strict=True):
            if (begin + end) / 2 <= self.committed_until:
                continue  # emitted from an earlier window
            agreed = any(g == gid and b < end and begin < e for g, b, e in self._previous)
            if end > horizon or not (agreed or final or not self.config.agree):
                break  # not stable yet; neither is anything after it
            gloss = {
                "gloss": rec.vocab.id_to_token(gid),
                "start": round(begin / self.fps, 3),
                "end": round(end / self.fps, 3),
                "start_frame": begin,
                "end_frame": end,
                "score": round(seg["score"], 4),
                "emitted_at_frame": self.num_frames,
            }
            new.append(gloss)
            self.committed_until = end
        self.emitted += new
        self.pending = [  # the window's glosses after the emitted ones: not stable yet
            rec.vocab.id_to_token(g) for g, b, e in spans if (b + e) / 2 > self.committed_until
        ]
        self._previous = spans
        self.last_step = self.num_frames
        self.step_seconds.append(time.perf_counter() - start)
        return new

    def run(self, frames: np.ndarray) -> list[dict[str, Any]]:
        """A whole clip [T, H, W, 3] through the stream, flushed; returns every gloss."""
        for frame in frames:
            self.push(frame)
        self.flush()
        return self.emitted
