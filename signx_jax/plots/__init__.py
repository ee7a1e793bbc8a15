"""The pictures researchers expect from a SignX run (paper Figures 7 and 8, curves, WER).

Drawing only: the figures of a clip take what ``signx_jax.recognize`` gives
(a ``Recognition``, a ``Recognizer``) as arguments, so this module never
imports it. The command that loads a run and draws them all is
``python -m signx_jax.plots`` (``signx_jax/plots/__main__.py``).

- ``skeleton``: a few frames of a clip's dwpose body + hands (the MediaPipe
  skeleton when dwpose is absent) above the recognised glosses on a time line.
- ``alignment`` (Figure 7, paper D.7): gloss <-> CTC feature index <-> original
  frames; the red line is the CTC posterior of the emitted glosses.
- ``importance`` (Figure 8, paper D.6): gradient x input saliency of the CSLR
  CTC loss through the frozen Pose2Gloss encoder w.r.t. the 1,959 pose dims,
  averaged over clips and frames, normalised; red lines are stream boundaries.
- ``curves``: training loss and dev metrics of the three stages from their
  TensorBoard event files (``W/stageN/tb``).
- ``wer_length``: WER by reference length from ``W/report/hypotheses.json``,
  drawn by ``signx_jax.report``.
"""

from __future__ import annotations

import glob
import io
import json
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from signx_jax import schema  # noqa: E402

# OpenPose-18 limbs (dwpose body keypoints 0..17).
BODY18_LIMBS = (
    (1, 2),
    (1, 5),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 14),
    (14, 16),
    (0, 15),
    (15, 17),
)
# 21-keypoint hands: wrist to each finger's four joints.
HAND21_LIMBS = tuple(
    (0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4)
)
# BlazePose-33 upper body.
POSE33_LIMBS = (
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
    (11, 23),
    (12, 24),
    (23, 24),
    (9, 10),
    (0, 2),
    (0, 5),
    (2, 7),
    (5, 8),
)
GLOSS_COLOURS = plt.get_cmap("tab10")
DPI = 80  # keeps the committed PNGs small


def _palette_png(png, out: str | os.PathLike) -> str:
    """A PNG (path or file object) -> ``out`` with a 256-colour palette: half the bytes
    of matplotlib's RGBA, no visible change."""
    from PIL import Image

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Image.open(png).convert("RGB").quantize(256).save(out, optimize=True)
    return str(out)


def save(fig, out: str | os.PathLike) -> str:
    """``fig`` as a palette PNG at ``out`` (small files for the README); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    plt.close(fig)
    return _palette_png(buf, out)


# -- skeleton frames ------------------------------------------------------------------


def _keypoints(frame: np.ndarray, present: np.ndarray):
    """One frame's 1959-d poses -> (points [N, 2], limbs, visible [N]) for drawing."""
    off = schema.stream_offsets()
    if present[schema.STREAM_NAMES.index("dwpose")]:
        kp = frame[off["dwpose"][0] : off["dwpose"][1]].reshape(128, 3)
        limbs = list(BODY18_LIMBS)
        limbs += [(a + 18, b + 18) for a, b in HAND21_LIMBS]
        limbs += [(a + 39, b + 39) for a, b in HAND21_LIMBS]
        return kp[:, :2], limbs, kp[:, 2] > 0.3
    start = off["mediapipe"][0]
    body = frame[start : start + 132].reshape(33, 4)
    hands = frame[start + 132 : start + 258].reshape(42, 3)
    pts = np.concatenate([body[:, :2], hands[:, :2]])
    limbs = list(POSE33_LIMBS)
    limbs += [(a + 33, b + 33) for a, b in HAND21_LIMBS]
    limbs += [(a + 54, b + 54) for a, b in HAND21_LIMBS]
    visible = np.concatenate([body[:, 3] > 0.3, np.any(hands != 0, axis=1)])
    return pts, limbs, visible


def _gloss_timeline(ax, segments: list[dict], duration: float) -> None:
    ax.set_xlim(0, duration)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    for k, seg in enumerate(segments):
        ax.axvspan(seg["start"], seg["end"], 0.1, 0.9, color=GLOSS_COLOURS(k % 10), alpha=0.6)
        ax.text(
            (seg["start"] + seg["end"]) / 2, 0.5, seg["gloss"], ha="center", va="center", fontsize=8
        )
    if not segments:
        ax.text(duration / 2, 0.5, "(no glosses recognised)", ha="center", va="center", fontsize=8)


def skeleton_frames(
    poses: np.ndarray,
    presence: np.ndarray,
    out: str | os.PathLike,
    *,
    glosses: list[dict] | None = None,
    fps: float = 25.0,
    num_frames: int = 6,
    title: str | None = None,
) -> str:
    """poses [T, 1959], presence [T, 5], segments from ``recognize`` -> PNG path."""
    t = len(poses)
    picks = np.linspace(0, t - 1, min(num_frames, t)).round().astype(int)
    fig = plt.figure(figsize=(1.6 * len(picks), 2.6))
    grid = fig.add_gridspec(2, len(picks), height_ratios=(4, 1))
    for col, f in enumerate(picks):
        ax = fig.add_subplot(grid[0, col])
        pts, limbs, vis = _keypoints(poses[f], presence[f])
        for a, b in limbs:
            if vis[a] and vis[b]:
                ax.plot(pts[[a, b], 0], pts[[a, b], 1], lw=1.2, color="tab:blue")
        ax.scatter(pts[vis, 0], pts[vis, 1], s=2, color="black")
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)  # image coordinates: y down
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{f / fps:.2f}s", fontsize=8)
    _gloss_timeline(fig.add_subplot(grid[1, :]), glosses or [], t / fps)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, out)


# -- Figure 7: gloss <-> feature index <-> frames ----------------------------------------


def alignment_figure(
    result, out: str | os.PathLike, *, vocab=None, reference: str | None = None, num_thumbs: int = 8
) -> str:
    """A ``recognize.Recognition`` -> the three-layer alignment of paper Figure 7."""
    probs = np.exp(result.log_probs)  # [T', V]
    t_ctc, t = probs.shape[0], result.num_frames
    stride = t / t_ctc
    emitted = 1.0 - probs[:, schema.BLANK_ID]  # posterior mass on any gloss
    fig = plt.figure(figsize=(9, 4.2))
    grid = fig.add_gridspec(
        4, 1, height_ratios=(3, 0.6, 0.6, 1.6 if result.rgb is not None else 0.01)
    )
    ax = fig.add_subplot(grid[0])
    xs = np.arange(t_ctc) + 0.5
    ax.plot(xs, emitted, color="red", lw=1.5, label="P(gloss) = 1 - P(blank)")
    if vocab is not None and len(result.segments) == 0:
        peaks = probs.max(0)
        peaks[: len(schema.SPECIAL_TOKENS)] = -1.0
        top = np.argsort(-peaks)[:3]  # nothing emitted: show the likeliest glosses
        for v in top:
            ax.plot(xs, probs[:, v], lw=0.8, ls="--", label=vocab.id_to_token(int(v)))
    for k, seg in enumerate(result.segments):
        a, b = seg["ctc_frames"]
        ax.axvspan(a, b, color=GLOSS_COLOURS(k % 10), alpha=0.25)
        ax.annotate(  # centred on its span (at the peak, names by the edges were cut)
            seg["gloss"],
            ((a + b) / 2, emitted[a : max(b, a + 1)].max()),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_xlim(0, t_ctc)
    ax.set_ylim(0, 1.3)  # room for the gloss names above the peaks
    ax.set_yticks((0, 0.5, 1))
    ax.set_ylabel("intensity")
    ax.set_xticks([])
    # Above the axes: inside, the legend hides the gloss labels at the posterior peaks.
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncol=2, fontsize=7, frameon=False)
    head = f"recognised: {result.text or '(nothing)'}"
    ax.set_title(head + (f"\nreference: {reference}" if reference else ""), fontsize=9, loc="left")

    def bar(axis, length, scale, label):
        axis.set_xlim(0, length)
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        for k, seg in enumerate(result.segments):
            a, b = seg["ctc_frames"]
            axis.axvspan(a * scale, b * scale, color=GLOSS_COLOURS(k % 10), alpha=0.7)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=7)

    feat_ax, frame_ax = fig.add_subplot(grid[1]), fig.add_subplot(grid[2])
    bar(feat_ax, t_ctc, 1.0, "feature\nindex")
    # Feature-index ticks above their bar: below it the connector bands would cover them.
    feat_ax.xaxis.tick_top()
    bar(frame_ax, t, stride, "frames")
    frame_ax.set_xlabel(
        f"frame ({result.fps:g} fps); one feature = {stride:.1f} frames", fontsize=8
    )
    if result.rgb is not None:
        thumbs_ax = fig.add_subplot(grid[3])
        picks = np.linspace(0, t - 1, num_thumbs).round().astype(int)
        strip = np.concatenate([result.rgb[f] for f in picks], axis=1)
        thumbs_ax.imshow(strip)
        thumbs_ax.set_xticks((np.arange(num_thumbs) + 0.5) * result.rgb.shape[2], picks, fontsize=7)
        thumbs_ax.set_yticks([])
    fig.subplots_adjust(hspace=0.9, left=0.1, right=0.98, top=0.88, bottom=0.08)
    # Feature j summarises frames [j * stride, (j + 1) * stride): one band per feature,
    # darker where the posterior of a gloss is higher.
    to_fig = fig.transFigure.inverted()
    for j in range(t_ctc):
        top = [feat_ax.transData.transform((x, 0)) for x in (j + 1, j)]
        bottom = [frame_ax.transData.transform((x * stride, 1)) for x in (j, j + 1)]
        fig.patches.append(
            Polygon(
                to_fig.transform(np.array(top + bottom)),
                closed=True,
                transform=fig.transFigure,
                color="grey",
                lw=0,
                alpha=0.1 + 0.6 * float(emitted[j]),
            )
        )
    return save(fig, out)


# -- Figure 8: modality importance --------------------------------------------------------


def _pad_batch(x: np.ndarray, length: int) -> np.ndarray:
    return np.pad(x, [(0, length - len(x))] + [(0, 0)] * (x.ndim - 1))[None]


def modality_saliency(recognizer, clips: list[dict]) -> np.ndarray:
    """|d CTC loss / d poses * poses| averaged over clips and valid frames -> [1959].

    ``clips``: schema records (poses dict, presence, gloss) of the run's vocabulary.
    The CTC loss of the reference glosses flows through the frozen Pose2Gloss
    encoder and CSLR (deterministic), as on the pose route.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    p2g_def, cslr_def = recognizer.p2g_def, recognizer.cslr_def

    @jax.jit
    def grad_x_input(p2g_state, cslr_state, prune_mask, poses, presence, mask, labels, label_pad):
        def loss(x):
            z = nnx.merge(p2g_def, p2g_state, copy=True).encode(
                x, presence, mask, deterministic=True
            )
            out = nnx.merge(cslr_def, cslr_state, copy=True)(
                z, mask, prune_mask, deterministic=True
            )
            pad = 1.0 - out["enc_mask"].astype(jnp.float32)
            return optax.ctc_loss(
                out["ctc_logits"], pad, labels, label_pad, blank_id=schema.BLANK_ID
            ).sum()

        return jnp.abs(jax.grad(loss)(poses) * poses).sum(axis=(0, 1))

    total, frames = np.zeros(schema.POSE_DIM), 0
    for clip in clips:
        poses = schema.concat_poses(clip)
        t = len(poses)
        length = -(-t // 16) * 16
        ids = recognizer.vocab.encode(clip["gloss"])
        labels = np.zeros((1, 16), np.int32)
        labels[0, : len(ids)] = ids[:16]
        label_pad = (np.arange(16) >= len(ids))[None].astype(np.float32)
        sal = grad_x_input(
            recognizer.p2g_state,
            recognizer.cslr_state,
            recognizer.prune_mask,
            _pad_batch(poses, length),
            _pad_batch(np.asarray(clip["presence"], bool), length),
            np.arange(length)[None] < t,
            labels,
            label_pad,
        )
        total += np.asarray(sal)
        frames += t
    return total / max(frames, 1)


def _stream_labels(ax, offsets: dict[str, tuple[int, int]], fontsize: int = 8) -> float:
    """Stream names above ``ax``, centred on their spans; a name that would touch its
    left neighbour goes up a row (the narrow mediapipe / smplerx streams).
    -> height of the rows in points, for the title's pad."""
    renderer = ax.figure.canvas.get_renderer()
    rows: list[float] = []  # right edge (pixels) of the last name in each row
    for name, (a, b) in offsets.items():
        text = ax.annotate(
            name,
            ((a + b) / 2, 1),
            xycoords=ax.get_xaxis_transform(),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=fontsize,
        )
        box = text.get_window_extent(renderer)
        gap = 4 * ax.figure.dpi / 72  # 4 points between names in a row
        row = next((r for r, right in enumerate(rows) if box.x0 > right + gap), len(rows))
        rows[row : row + 1] = [box.x1]
        text.set_position((0, 2 + row * 1.3 * fontsize))
    return 2 + len(rows) * 1.3 * fontsize


def importance_figure(saliency: np.ndarray, out: str | os.PathLike, *, title: str = "") -> str:
    """saliency [1959] -> heat map with stream boundaries (paper Figure 8)."""
    norm = saliency / max(float(saliency.max()), 1e-12)
    offsets = schema.stream_offsets()
    fig, (heat, means) = plt.subplots(2, 1, figsize=(9, 3.4), height_ratios=(1.3, 1))
    heat.imshow(
        norm[None],
        aspect="auto",
        cmap="inferno",
        interpolation="nearest",
        extent=(0, schema.POSE_DIM, 0, 1),
    )
    heat.set_yticks([])
    heat.set_xlim(0, schema.POSE_DIM)
    names_height = _stream_labels(heat, offsets)
    heat.set_title(
        title or "normalised importance of the 1,959 pose dims (gradient x input)",
        fontsize=9,
        pad=4 + names_height,  # above the stream names
    )
    names = []
    for name, (a, b) in offsets.items():
        for ax in (heat, means):
            ax.axvline(a, color="red", lw=1.5)
        means.bar((a + b) / 2, norm[a:b].mean(), width=b - a, color="tab:orange", alpha=0.7)
        names.append(f"{name} {norm[a:b].mean():.3f}")
    means.plot(np.arange(schema.POSE_DIM) + 0.5, norm, lw=0.4, color="black")
    means.set_xlim(0, schema.POSE_DIM)
    means.set_xlabel("pose dimension")
    means.set_ylabel("importance")
    means.set_title("per-dim (line) and per-stream mean (bars): " + ", ".join(names), fontsize=7)
    fig.tight_layout()
    return save(fig, out)


# -- training curves and WER by length -------------------------------------------------------


def read_scalars(tb_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All scalars of the event files in ``tb_dir`` -> {tag: (steps, values)}."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    acc = event_accumulator.EventAccumulator(
        str(tb_dir), size_guidance={"scalars": 0, "tensors": 0}
    )
    acc.Reload()
    out = {}
    for tag in acc.Tags().get("scalars", []):
        events = acc.Scalars(tag)
        out[tag] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
    for tag in acc.Tags().get("tensors", []):
        events = acc.Tensors(tag)
        vals = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]
        out[tag] = (np.array([e.step for e in events]), np.array(vals))
    return out


STAGES = (
    ("stage1", "Pose2Gloss", "dev_wer"),
    ("stage2", "Video2Pose", "dev_pose_mse"),
    ("stage3", "CSLR", "dev_wer"),
)


def training_curves(workdir: str | os.PathLike, out: str | os.PathLike) -> str:
    """Loss (left axis) and the dev metric (right axis) of each stage's TensorBoard log."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    found = False
    for ax, (stage, name, dev_tag) in zip(axes, STAGES, strict=True):
        tb = os.path.join(workdir, stage, "tb")
        scalars = read_scalars(tb) if glob.glob(os.path.join(tb, "*tfevents*")) else {}
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        if "loss" not in scalars:
            ax.text(0.5, 0.5, "no events", ha="center", transform=ax.transAxes)
            continue
        found = True
        ax.plot(*scalars["loss"], color="tab:blue", label="train loss")
        ax.set_ylabel("train loss", color="tab:blue", fontsize=8)
        if dev_tag in scalars:
            twin = ax.twinx()
            twin.plot(*scalars[dev_tag], color="tab:red", marker="o", ms=3)
            twin.set_ylabel(dev_tag.replace("_", " "), color="tab:red", fontsize=8)
    if not found:
        plt.close(fig)
        raise FileNotFoundError(f"{workdir}: no TensorBoard events under stage*/tb")
    fig.tight_layout()
    return save(fig, out)


def wer_by_length(workdir: str | os.PathLike, out: str | os.PathLike) -> str:
    """WER by reference length of every route/split in ``W/report/hypotheses.json``."""
    from signx_jax import metrics, report

    path = os.path.join(workdir, "report", "hypotheses.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing; the main job writes it after evaluation")
    with open(path) as f:
        sentences = json.load(f)
    aligns = {
        name: metrics.wer([r.split() for r in d["refs"]], [h.split() for h in d["hyps"]]).alignments
        for name, d in sentences.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        report._plot_wer_by_length(Path(tmp), aligns)  # noqa: SLF001 - writes wer_by_length.png
        return _palette_png(Path(tmp) / "wer_by_length.png", out)
