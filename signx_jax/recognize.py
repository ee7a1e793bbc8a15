"""Recognise glosses in your own video with a trained SignX run (paper sections 3.3-4.2).

  python -m signx_jax.recognize --workdir runs/demo --input clip.mp4 --route video \
      --vtt clip.vtt --json clip.json

``--workdir`` is a main-job run directory (``python -m signx_jax.main``): the
vocabulary comes from ``W/data/vocab.json``, each stage's model and config from
its orbax checkpoints (``W/stageN/checkpoints``; CSLR is the released best-k
average, stages 1-2 their newest checkpoint). ``--model`` is a model bundle
(``signx_jax.export``; the main job writes ``W/bundle``): the same models, no run.

Two routes to the latent space:
  * ``video``: a video file or a folder of frames, centre-cropped and resized to
    Video2Pose's image size -> Video2Pose -> frozen Pose2Gloss encoder -> z;
    no pose estimator runs (paper section 3.3).
  * ``pose``: MediaPipe holistic landmarks, extracted from a video / frame
    folder by ``data_pipelines.extract`` (its own venv) or read from a
    ``.pose`` / extractor ``.npz`` file -> the ``mediapipe`` stream, the other
    four streams absent (presence False) -> Pose2Gloss encoder -> z.
Then CSLR -> the route's decoder chosen on dev by the main job's evaluate step
(``W/stage3/decoding.json``: CTC greedy or prefix beam, or joint CTC/attention with
its weights; CTC greedy where the run has none); each gloss gets a time span from
CTC forced alignment of the decoded sequence (CTC frames -> input frames -> seconds).
Prints the glosses with their spans; writes WebVTT subtitles and JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from signx_jax import schema

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".mkv")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
POSE_SUFFIXES = (".pose", ".npz")
PAD_MULTIPLE = 16  # inputs are padded to a multiple of this: few compiles per session
ROUTES = ("video", "pose")  # the main job's and the latent cache's names


class RecognitionError(ValueError):
    """The input cannot be recognised; the message names the file and the cause."""


# -- reading inputs -------------------------------------------------------------------


def read_frames(path: str | os.PathLike, *, fps: float, max_frames: int | None = None):
    """Video file or frame folder -> (rgb uint8 [T, H, W, 3], fps)."""
    import cv2

    from data_pipelines.datasets.common import natural_key

    path = Path(path)
    frames = []
    if path.is_dir():
        names = sorted(
            (n for n in os.listdir(path) if n.lower().endswith(FRAME_SUFFIXES)), key=natural_key
        )
        if not names:
            raise RecognitionError(f"{path}: folder has no {FRAME_SUFFIXES} frames")
        for name in names[:max_frames]:
            bgr = cv2.imread(str(path / name), cv2.IMREAD_COLOR)
            if bgr is None:
                raise RecognitionError(f"{path / name}: unreadable image")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise RecognitionError(f"{path}: frames differ in size {sorted(shapes)}")
    else:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise RecognitionError(f"{path}: OpenCV cannot open this video")
        fps = cap.get(cv2.CAP_PROP_FPS) or fps
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
        if not frames:
            raise RecognitionError(f"{path}: no frame could be decoded (empty or corrupt video)")
    return np.stack(frames), float(fps)


def write_video(path: str | os.PathLike, rgb: np.ndarray, fps: float) -> str:
    """rgb uint8 [T, H, W, 3] -> a video browsers play: ``.webm`` is VP8 (``.mp4``:
    MPEG-4 part 2, which OpenCV can write but browsers do not play)."""
    import cv2

    codec = {".webm": "VP80", ".mp4": "mp4v", ".avi": "MJPG"}[Path(path).suffix.lower()]
    # FFmpeg's WebM muxer accepts VP8 but OpenCV prints a tag warning on stderr (fd 2).
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        size = rgb.shape[2:0:-1]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    finally:
        os.dup2(saved, 2)
        os.close(saved), os.close(null)
    if not writer.isOpened():
        raise RecognitionError(f"{path}: OpenCV cannot write {codec} video here")
    for frame in rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


def resize_frames(rgb: np.ndarray, size: int) -> np.ndarray:
    """rgb [T, H, W, 3] -> centre square crop resized to [T, size, size, 3] uint8."""
    import cv2

    _, h, w, _ = rgb.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = rgb[:, top : top + side, left : left + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in crop])


def read_mediapipe(path: str | os.PathLike, *, fps: float, max_frames: int | None = None):
    """.pose / extractor .npz / video / frame folder -> (mediapipe [T, 258], found [T], fps).

    ``found[t]``: MediaPipe saw the body or a hand at frame t.
    """
    path = Path(path)
    if path.suffix.lower() == ".pose":
        from data_pipelines.datasets.common import ConversionError
        from data_pipelines.datasets.pose_files import read_pose_file

        try:
            mp, parts = read_pose_file(path)
            from pose_format import Pose

            fps = float(Pose.read(path.read_bytes()).body.fps) or fps
        except ConversionError as e:
            raise RecognitionError(str(e)) from None
    else:
        if path.suffix.lower() == ".npz":
            try:
                with np.load(path) as z:
                    arrays = {k: z[k] for k in z.files}
            except (OSError, ValueError) as e:
                raise RecognitionError(f"{path}: not a readable .npz ({e})") from None
        else:
            from data_pipelines.extract.mediapipe_extract import ExtractionError, extract

            try:
                arrays = extract(path, max_frames=max_frames)
            except ExtractionError as e:
                raise RecognitionError(str(e)) from None
        if "mediapipe" not in arrays:
            raise RecognitionError(f"{path}: no 'mediapipe' array (keys {sorted(arrays)})")
        mp = np.asarray(arrays["mediapipe"], np.float32)
        parts = arrays.get("mediapipe_parts", np.any(mp != 0, axis=1, keepdims=True))
        fps = float(arrays.get("fps", 0.0)) or fps
    mp, parts = mp[:max_frames], np.asarray(parts, bool)[:max_frames]
    if mp.ndim != 2 or mp.shape[1] != schema.STREAM_DIMS["mediapipe"]:
        raise RecognitionError(f"{path}: mediapipe stream has shape {mp.shape}, expected [T, 258]")
    mp = np.where(np.isfinite(mp), mp, 0.0).astype(np.float32)
    return mp, parts.any(axis=1), float(fps)


def mediapipe_only(mp: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mediapipe [T, 258], found [T] -> poses [T, 1959] (other streams zero), presence [T, 5]."""
    start, end = schema.stream_offsets()["mediapipe"]
    poses = np.zeros((len(mp), schema.POSE_DIM), np.float32)
    poses[:, start:end] = mp
    presence = np.zeros((len(mp), len(schema.STREAMS)), bool)
    presence[:, schema.STREAM_NAMES.index("mediapipe")] = found
    return poses, presence


@dataclasses.dataclass
class Clip:
    """A decoded input, ready for a route: rgb uint8 [T, H, W, 3] (video route) or
    poses [T, 1959] with presence [T, 5] (pose route)."""

    where: str
    route: str
    fps: float
    rgb: np.ndarray | None = None
    poses: np.ndarray | None = None
    presence: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return len(self.rgb if self.route == "video" else self.poses)


def read_input(
    path: str | os.PathLike, route: str, *, fps: float = 25.0, max_frames: int | None = None
) -> Clip:
    """Decode ``path`` for ``route`` (no model needed): a file that is missing, empty,
    undecodable or without a person fails here, before any checkpoint is read."""
    p = check_input(path, route)
    if route == "video":
        rgb, fps = read_frames(p, fps=fps, max_frames=max_frames)
        return Clip(str(path), route, fps, rgb=rgb)
    mp, found, fps = read_mediapipe(p, fps=fps, max_frames=max_frames)
    if not found.any():
        raise RecognitionError(
            f"{path}: no person detected (MediaPipe found no body or hand in any of "
            f"{len(found)} frames)"
        )
    poses, presence = mediapipe_only(mp, found)
    return Clip(str(path), route, fps, poses=poses, presence=presence)


# -- the models -----------------------------------------------------------------------


def cslr_min_frames(model_cfg) -> int:
    """Fewest input frames CSLR's temporal conv pooling leaves a CTC frame of
    (paper section 4.2: the TemporalConv stack shrinks the clip by its pool factors)."""
    from signx_jax.models import temporal

    spec = temporal.ConvSpec.from_config(model_cfg)
    return next(t for t in range(1, 1 << 16) if temporal.conv_output_frames(spec, t) >= 1)


def run_min_frames(workdir: str) -> int:
    """``cslr_min_frames`` of a run's CSLR, from the config saved with its newest
    checkpoint (no model is built)."""
    return cslr_min_frames(_saved_config(os.path.join(os.path.abspath(workdir), "stage3")).model)


def _saved_config(stage_dir: str):
    import ml_collections

    from signx_jax import checkpoint as ckpt_lib

    try:
        return ml_collections.ConfigDict(ckpt_lib.saved_config(stage_dir))
    except FileNotFoundError as e:
        raise RecognitionError(
            f"{e}; train the run first (python -m signx_jax.main --workdir ...)"
        ) from None


def check_length(num_frames: int, min_frames: int, where: str) -> None:
    if num_frames < min_frames:
        raise RecognitionError(
            f"{where}: {num_frames} frames; the model needs at least {min_frames} "
            "(CSLR's temporal conv pooling shrinks the clip by its pool factors)"
        )


def _restore_stage(stage_dir: str, task_factory, *, released: bool = False):
    """(Trainer, steps) of one stage from its checkpoints and the config saved with them."""
    from signx_jax import checkpoint as ckpt_lib
    from signx_jax.train.loop import Trainer

    ckpt_dir = os.path.join(stage_dir, "checkpoints")
    cfg = _saved_config(stage_dir)
    trainer = Trainer(cfg, task_factory(cfg))
    try:
        if released:
            try:
                return trainer, ckpt_lib.restore_released(trainer, stage_dir, cfg.train.keep_best)
            except FileNotFoundError:
                pass  # no dev-scored checkpoint: fall back to the newest one
        step = ckpt_lib.restore_latest(trainer, stage_dir)
    except (ValueError, KeyError, TypeError) as e:  # orbax: the saved tree differs
        raise RecognitionError(
            f"{ckpt_dir}: its newest checkpoint does not match this code's {cfg.stage} model "
            "(written by an older revision?); retrain the stage. "
            f"orbax: {str(e).splitlines()[0][:300]}"
        ) from e
    return trainer, [step]


def _check_routes(routes) -> None:
    if unknown := [r for r in routes if r not in ROUTES]:
        raise RecognitionError(f"routes must be among {ROUTES}, got {unknown}")


def _stages(routes) -> list[str]:
    """The stages a set of routes needs: video -> stage 2 (with its frozen stage 1),
    pose -> stage 1; CSLR always."""
    return [s for s, r in (("stage1", "pose"), ("stage2", "video")) if r in routes] + ["stage3"]


def _task_factories(vocab) -> dict:
    from signx_jax.train import tasks

    v = len(vocab)
    return {
        "stage1": lambda c: tasks.Pose2GlossTask(c, v),
        "stage2": lambda c: tasks.Video2PoseTask(c, v),
        "stage3": lambda c: tasks.CSLRTask(c, v, class_counts=vocab.counts),
    }


def _pad(x: np.ndarray, length: int) -> np.ndarray:
    return np.pad(x, [(0, length - len(x))] + [(0, 0)] * (x.ndim - 1))


@dataclasses.dataclass
class Recognition:
    """What one clip gave. Frame-level arrays are unpadded."""

    glosses: list[str]
    segments: list[
        dict[str, Any]
    ]  # {"gloss", "start", "end" (s), "start_frame", "end_frame", "score"}
    fps: float
    num_frames: int
    log_probs: np.ndarray  # [T', V] CTC log-posteriors (T' = CTC frames)
    latent: np.ndarray  # [T, Dz]
    poses: np.ndarray  # [T, 1959]: predicted (video route) or extracted (pose route)
    presence: np.ndarray  # [T, 5]
    rgb: np.ndarray | None = None  # [T, S, S, 3] the frames the model saw (video route)

    @property
    def text(self) -> str:
        return " ".join(self.glosses)

    def to_json(self, **extra) -> dict[str, Any]:
        return {
            **extra,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "ctc_frames": int(self.log_probs.shape[0]),
            "glosses": self.text,
            "segments": self.segments,
        }


class Recognizer:
    """The three stages of a run directory, ready for single clips.

    ``routes`` limits what is loaded: the video route needs stage 2 (whose
    checkpoint also holds the frozen stage 1 it was trained against), the pose
    route stage 1.
    """

    def __init__(self, workdir: str, routes: tuple[str, ...] = ROUTES):
        from signx_jax import evaluate
        from signx_jax.data.vocab import Vocabulary

        _check_routes(routes)
        self.workdir = workdir = os.path.abspath(workdir)
        vocab_path = os.path.join(workdir, "data", "vocab.json")
        if not os.path.isfile(vocab_path):
            raise RecognitionError(f"{vocab_path}: missing; is {workdir} a main-job run directory?")
        vocab = Vocabulary.load(vocab_path)
        factories = _task_factories(vocab)
        trainers, steps = {}, {}
        for stage in _stages(routes):
            trainers[stage], steps[stage] = _restore_stage(
                os.path.join(workdir, stage), factories[stage], released=stage == "stage3"
            )
        # Each route's decoder as chosen on dev; the config's where the run did not choose.
        default = (trainers["stage3"].task.decode_method, {})
        chosen = evaluate.released_decoders(os.path.join(workdir, "stage3"))
        self._build(vocab, trainers, {r: chosen.get(r, default) for r in ROUTES}, steps["stage3"])

    @classmethod
    def from_pretrained(cls, bundle: str, routes: tuple[str, ...] | None = None) -> Recognizer:
        """The Recognizer of a model bundle (``signx_jax.export``), no run directory needed."""
        from signx_jax import bundle as bundles
        from signx_jax.data.vocab import Vocabulary

        meta = bundles.read_bundle(bundle)
        routes = tuple(meta["routes"]) if routes is None else routes
        _check_routes(routes)
        if missing := [r for r in routes if r not in meta["routes"]]:
            raise RecognitionError(f"{bundle}: has no {missing} route (it has {meta['routes']})")
        vocab = Vocabulary.load(os.path.join(bundle, "vocab.json"))
        factories = _task_factories(vocab)
        trainers = {s: bundles.load_stage(bundle, s, factories[s], meta) for s in _stages(routes)}
        decoders = {r: tuple(meta["decoders"].get(r, ("ctc_greedy", {}))) for r in ROUTES}
        self = cls.__new__(cls)
        self.workdir = os.path.abspath(bundle)
        self._build(vocab, trainers, decoders, meta["cslr_checkpoints"])
        return self

    def _build(self, vocab, trainers: dict, decoders: dict, cslr_steps: list[int]) -> None:
        import jax
        from flax import nnx

        self.vocab, self.trainers, self.decoders = vocab, trainers, decoders
        self._decode_lock = threading.Lock()
        self.cslr_steps = cslr_steps
        self.p2g = self.v2p = None
        if "stage2" in trainers:  # its checkpoint holds the frozen stage 1 it trained against
            model = trainers["stage2"].model()
            self.v2p, self.p2g = model.video2pose, model.pose2gloss
            self.image_size = int(trainers["stage2"].cfg.model.image_size)
        if "stage1" in trainers:
            self.p2g = trainers["stage1"].model()
        self.stage3 = trainers["stage3"]
        self.cslr = self.stage3.model()
        self.prune_mask = self.stage3.state.aux["prune_mask"]
        self.min_frames = cslr_min_frames(self.stage3.cfg.model)

        # Graph and state apart, so the jitted functions take the weights as arguments.
        p2g_def, self.p2g_state = nnx.split(self.p2g)
        self.p2g_def = p2g_def
        self.cslr_def, self.cslr_state = nnx.split(self.cslr)

        def encode(state, poses, presence, mask):
            m = nnx.merge(p2g_def, state, copy=True)
            return m.encode(poses, presence, mask, deterministic=True)

        self._encode = jax.jit(encode)
        if self.v2p is not None:
            v2p_def, self._v2p_state = nnx.split(self.v2p)

            def video2pose(state, rgb, mask):
                return nnx.merge(v2p_def, state, copy=True)(rgb, mask, deterministic=True)

            self._video2pose = jax.jit(video2pose)

    # -- latents ------------------------------------------------------------------
    def _padded_len(self, num_frames: int, pad_to: int | None = None) -> int:
        """Inputs are padded to a multiple of PAD_MULTIPLE, or to ``pad_to`` frames
        (live windows: one compiled shape however full the window is)."""
        return max(pad_to or 0, -(-num_frames // PAD_MULTIPLE) * PAD_MULTIPLE)

    def poses_from_rgb(self, rgb: np.ndarray, pad_to: int | None = None) -> np.ndarray:
        """rgb uint8 [T, S, S, 3] (already resized) -> predicted poses [T, 1959]."""
        if self.v2p is None:
            raise RecognitionError("this Recognizer was loaded without the video route")
        t, length = len(rgb), self._padded_len(len(rgb), pad_to)
        mask = np.arange(length)[None] < t
        out = self._video2pose(self._v2p_state, _pad(rgb, length)[None], mask)
        return np.asarray(out)[0, :t]

    def latent(
        self, poses: np.ndarray, presence: np.ndarray, pad_to: int | None = None
    ) -> np.ndarray:
        """poses [T, 1959], presence [T, 5] -> z_latent [T, Dz] (frozen Pose2Gloss encoder)."""
        t, length = len(poses), self._padded_len(len(poses), pad_to)
        mask = np.arange(length)[None] < t
        z = self._encode(
            self.p2g_state, _pad(poses, length)[None], _pad(presence, length)[None], mask
        )
        return np.asarray(z)[0, :t]

    def decode(
        self,
        z: np.ndarray,
        route: str,
        method: tuple[str, dict] | None = None,
        pad_to: int | None = None,
    ) -> tuple[list[int], np.ndarray]:
        """z [T, Dz] -> (gloss ids by ``route``'s released decoder, or by ``method``
        (name, knobs) when given, CTC log-posteriors [T', V] over the valid CTC
        frames): the stage-3 evaluation step itself. Thread-safe (the web demo's
        sessions share one Recognizer)."""
        import jax

        from signx_jax.data.vocab import ids_to_text
        from signx_jax.sharding import batch_rows, gather, to_global

        t, length = len(z), self._padded_len(len(z), pad_to)
        rows = batch_rows(self.stage3.mesh)  # one clip, padded to a row per batch shard
        batch = {
            "latent": np.zeros((rows, length, z.shape[1]), np.float32),
            "frame_mask": np.arange(length)[None].repeat(rows, 0) < t,
            "valid": np.arange(rows) == 0,
            "labels": np.zeros((rows, 1), np.int32),
            "label_lengths": np.zeros(rows, np.int32),
            "index": np.zeros(rows, np.int32),
        }
        batch["latent"][0, :t] = z
        method, knobs = method or self.decoders[route]
        with self._decode_lock:  # the decoder is trainer state
            self.stage3.set_decode_method(method, **knobs)
            out = gather(self.stage3.eval_step(to_global(batch, self.stage3.mesh)))
        text = ids_to_text(out["hyp"][0], self.vocab)  # stops at EOS, drops specials
        ids = [self.vocab.token_to_id(g) for g in text.split()]
        log_probs = jax.nn.log_softmax(out["ctc_logits"][0, : int(out["out_lengths"][0])])
        return ids, np.asarray(log_probs)

    # -- recognition -------------------------------------------------------------------
    def check_length(self, num_frames: int, where: str) -> None:
        check_length(num_frames, self.min_frames, where)

    def from_poses(
        self, poses, presence, fps: float, where: str = "<poses>", route: str = "pose"
    ) -> Recognition:
        self.check_length(len(poses), where)
        if not np.any(presence):
            raise RecognitionError(f"{where}: no person detected in any of {len(poses)} frames")
        z = self.latent(poses, presence)
        ids, log_probs = self.decode(z, route)
        glosses, segments = decode_segments(ids, log_probs, len(poses), fps, self.vocab)
        return Recognition(glosses, segments, fps, len(poses), log_probs, z, poses, presence)

    def from_rgb(self, rgb: np.ndarray, fps: float, where: str = "<frames>") -> Recognition:
        """rgb uint8 [T, H, W, 3] at any size -> Recognition (video route)."""
        self.check_length(len(rgb), where)
        if rgb.shape[1:3] != (self.image_size, self.image_size):
            rgb = resize_frames(rgb, self.image_size)
        poses = self.poses_from_rgb(rgb)
        presence = np.ones((len(rgb), len(schema.STREAMS)), bool)
        result = self.from_poses(poses, presence, fps, where, route="video")
        result.rgb = rgb
        return result

    def recognize(
        self, path: str, route: str, *, fps: float = 25.0, max_frames: int | None = None
    ) -> Recognition:
        """A file / folder by ``route`` ("video" or "pose"); see the module docstring."""
        return self.from_clip(read_input(path, route, fps=fps, max_frames=max_frames))

    def from_clip(self, clip: Clip) -> Recognition:
        if clip.route == "video":
            return self.from_rgb(clip.rgb, clip.fps, clip.where)
        return self.from_poses(clip.poses, clip.presence, clip.fps, clip.where)


def check_input(path: str | os.PathLike, route: str) -> Path:
    """What ``route`` cannot read -> RecognitionError, before any model is loaded."""
    if route not in ROUTES:
        raise RecognitionError(f"route must be 'video' or 'pose', got {route!r}")
    p = Path(path)
    if not p.exists():
        raise RecognitionError(f"{path}: no such file or folder")
    suffix = p.suffix.lower()
    if p.is_file() and suffix not in VIDEO_SUFFIXES + POSE_SUFFIXES:
        raise RecognitionError(
            f"{path}: unsupported file type {suffix!r}; expected a video "
            f"{VIDEO_SUFFIXES}, a frame folder or {POSE_SUFFIXES}"
        )
    if route == "video" and p.is_file() and suffix in POSE_SUFFIXES:
        raise RecognitionError(f"{path}: the video route needs a video or a frame folder")
    if p.is_file() and p.stat().st_size == 0:
        raise RecognitionError(f"{path}: the file is empty")
    return p


# -- a run to recognise with ------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def ensure_run(workdir: str, config: str = "configs/demo.py:tiny") -> str:
    """``workdir`` with a finished main-job run, running ``python -m signx_jax.main`` if
    its report is missing. A file lock makes concurrent callers wait for one run.

    ``colab/signx_your_video.ipynb`` trains its run with it; the tests' cached
    tiny run is ``tests/runs.py``."""
    import fcntl
    import subprocess

    done = os.path.join(workdir, "report", "metrics.json")
    if os.path.isfile(done):
        return workdir
    os.makedirs(os.path.dirname(os.path.abspath(workdir)), exist_ok=True)
    with open(os.path.abspath(workdir) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(done):
            cmd = [
                sys.executable,
                "-m",
                "signx_jax.main",
                f"--config={config}",
                f"--workdir={workdir}",
            ]
            subprocess.run(cmd, cwd=REPO, check=True)
    return workdir


# -- spans and subtitles ----------------------------------------------------------


def decode_segments(ids: list[int], log_probs: np.ndarray, num_frames: int, fps: float, vocab):
    """Decoded gloss ids and CTC log-posteriors [T', V] -> (glosses, segments with times).

    Forced alignment of the ids gives every CTC frame a gloss (blanks go to the
    preceding gloss), and CTC frame j covers input frames [j * T / T', (j + 1) * T / T').
    """
    import jax.numpy as jnp

    from signx_jax.gloss_align import ctc_forced_align
    from signx_jax.schema import BLANK_ID as BLANK

    t_ctc = log_probs.shape[0]
    if not ids:
        return [], []
    lp, lengths = jnp.asarray(log_probs)[None], jnp.array([t_ctc])
    pos = ctc_forced_align(lp, lengths, jnp.array([ids]), jnp.array([len(ids)]), blank=BLANK)
    pos = np.asarray(pos)[0]
    stride = num_frames / t_ctc
    probs = np.exp(log_probs)
    glosses, segments = [], []
    for k, gid in enumerate(ids):
        frames = np.nonzero(pos == k)[0]
        first, last = (int(frames[0]), int(frames[-1])) if len(frames) else (0, 0)
        start_f = int(round(first * stride))
        end_f = min(num_frames, max(start_f + 1, int(round((last + 1) * stride))))
        gloss = vocab.id_to_token(gid)
        glosses.append(gloss)
        segments.append(
            {
                "gloss": gloss,
                "start": round(start_f / fps, 3),
                "end": round(end_f / fps, 3),
                "start_frame": start_f,
                "end_frame": end_f,
                "ctc_frames": [first, last + 1],
                "score": round(float(probs[first : last + 1, gid].max()), 4),
            }
        )
    return glosses, segments


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_webvtt(segments: list[dict]) -> str:
    """Segments with "start"/"end" seconds and "gloss" -> WebVTT text (one cue per gloss)."""
    lines = ["WEBVTT", ""]
    for k, seg in enumerate(segments, 1):
        lines += [
            str(k),
            f"{_vtt_time(seg['start'])} --> {_vtt_time(seg['end'])}",
            seg["gloss"],
            "",
        ]
    return "\n".join(lines)


def format_segments(result: Recognition) -> str:
    if not result.segments:
        return "glosses: (none recognised)"
    rows = [f"glosses: {result.text}"]
    rows += [
        f"  {s['start']:7.2f}s - {s['end']:7.2f}s  {s['gloss']}  (p={s['score']:.2f})"
        for s in result.segments
    ]
    return "\n".join(rows)


def _route(value: str) -> str:
    """--route: the RGB route is called ``video``, as in the main job's report."""
    if value == "rgb":
        raise argparse.ArgumentTypeError("the RGB route is called 'video': use --route video")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m signx_jax.recognize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", help="main-job run directory")
    source.add_argument("--model", help="model bundle (python -m signx_jax.export)")
    parser.add_argument("--input", required=True, help="video, frame folder, .pose or .npz")
    parser.add_argument("--route", type=_route, choices=ROUTES, default="video")
    parser.add_argument("--vtt", help="write WebVTT subtitles here")
    parser.add_argument("--json", help="write the result as JSON here")
    parser.add_argument("--skeleton", help="write a skeleton-frames PNG with the glosses here")
    parser.add_argument("--fps", type=float, default=25.0, help="for frame folders")
    parser.add_argument("--max_frames", type=int, default=None)
    args = parser.parse_args(argv)
    from signx_jax.bundle import BundleError, read_bundle

    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax warns on read-only managers
    try:
        # The input is read and its length checked before the models load (seconds):
        # a missing, empty or too short file fails at once.
        clip = read_input(args.input, args.route, fps=args.fps, max_frames=args.max_frames)
        if args.model:
            min_frames = read_bundle(args.model)["min_frames"]
        else:
            min_frames = run_min_frames(args.workdir)
        check_length(clip.num_frames, min_frames, args.input)
        if args.model:
            recognizer = Recognizer.from_pretrained(args.model, routes=(args.route,))
        else:
            recognizer = Recognizer(args.workdir, routes=(args.route,))
        result = recognizer.from_clip(clip)
    except (RecognitionError, BundleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    present = result.presence.any(axis=0)
    streams = ", ".join(n for n, p in zip(schema.STREAM_NAMES, present, strict=True) if p)
    print(
        f"{args.input}: {result.num_frames} frames at {result.fps:g} fps, route {args.route} "
        f"(streams: {streams}); {result.log_probs.shape[0]} CTC frames"
    )
    print(format_segments(result))
    if args.vtt:
        Path(args.vtt).write_text(to_webvtt(result.segments))
    if args.json:
        payload = result.to_json(
            input=str(args.input),
            route=args.route,
            workdir=recognizer.workdir,
            cslr_checkpoints=recognizer.cslr_steps,
        )
        Path(args.json).write_text(json.dumps(payload, indent=1))
    if args.skeleton:
        from signx_jax import plots

        plots.skeleton_frames(
            result.poses, result.presence, args.skeleton, glosses=result.segments, fps=result.fps
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
