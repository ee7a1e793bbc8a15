"""The pose-shard record schema shared by every dataset (paper section 3.1; README "Design").

One clip is one record. In memory a record is a plain ``dict`` (a ``Clip``):

=================  ===============================  =============================
key                type / shape                      meaning
=================  ===============================  =============================
``clip_id``        str                               unique within the dataset
``dataset``        str                               e.g. ``synthetic``, ``phoenix2014t``
``signer``         str                               signer id (splits are by signer)
``fps``            float                             frames per second
``poses``          {stream: float32 [T, dim]}        the five streams of ``STREAMS``
``presence``       bool [T, 5]                       stream present at frame t
``rgb``            uint8 [T, H, W, 3] or absent      small RGB frames (Video2Pose)
``gloss``          str                               space separated glosses
``translation``    str (may be empty)                spoken-language sentence
``gloss_spans``    int32 [N, 2] or absent            [start, end) frame of each gloss
=================  ===============================  =============================

A stream that is missing for a whole clip is all zeros with its presence
column False; missing frames are zero rows with presence False.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SCHEMA_VERSION = 1

# (name, per-frame dimension) in the order they are concatenated (= 1959).
STREAMS: tuple[tuple[str, int], ...] = (
    ("dwpose", 384),  # 128 keypoints (18 body, 21 lh, 21 rh, 68 face) x (x, y, score)
    ("mediapipe", 258),  # 33 pose x (x,y,z,vis) + 21 lh x (x,y,z) + 21 rh x (x,y,z)
    ("smplerx", 165),  # SMPL-X axis-angle: global, body, lh, rh, jaw, leye, reye
    ("primedepth", 576),  # 24 x 24 depth map around the signer
    ("sapiens", 576),  # 24 x 24 body-part segmentation map
)
STREAM_NAMES: tuple[str, ...] = tuple(name for name, _ in STREAMS)
STREAM_DIMS: dict[str, int] = dict(STREAMS)
POSE_DIM: int = sum(STREAM_DIMS.values())  # 1959


def stream_offsets() -> dict[str, tuple[int, int]]:
    """[start, end) column range of each stream inside the 1959-d pose vector."""
    out, start = {}, 0
    for name, dim in STREAMS:
        out[name] = (start, start + dim)
        start += dim
    return out


# Special tokens of every gloss / subword vocabulary, in this id order.
PAD, BOS, EOS, UNK, BLANK = "<pad>", "<s>", "</s>", "<unk>", "<blank>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK, BLANK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID, BLANK_ID = range(len(SPECIAL_TOKENS))

Clip = dict[str, Any]


def concat_poses(clip: Clip) -> np.ndarray:
    """poses dict -> float32 [T, 1959] in STREAMS order."""
    return np.concatenate(
        [np.asarray(clip["poses"][name], np.float32) for name in STREAM_NAMES], axis=-1
    )


def validate_clip(clip: Clip, where: str = "<clip>") -> None:
    """Raise ValueError naming ``where`` when a clip breaks the schema."""
    poses = clip.get("poses")
    if not isinstance(poses, dict):
        raise ValueError(f"{where}: 'poses' must be a dict of the five streams")
    lengths = set()
    for name, dim in STREAMS:
        if name not in poses:
            raise ValueError(f"{where}: stream {name!r} missing (use zeros + presence)")
        arr = np.asarray(poses[name])
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise ValueError(f"{where}: stream {name!r} has shape {arr.shape}, expected [T, {dim}]")
        lengths.add(arr.shape[0])
    if len(lengths) != 1:
        raise ValueError(f"{where}: streams disagree on frame count: {sorted(lengths)}")
    (num_frames,) = lengths
    if num_frames == 0:
        raise ValueError(f"{where}: zero-length clip")
    presence = np.asarray(clip.get("presence"))
    if presence.shape != (num_frames, len(STREAMS)):
        raise ValueError(
            f"{where}: presence has shape {presence.shape}, expected ({num_frames}, {len(STREAMS)})"
        )
    rgb = clip.get("rgb")
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 4 or rgb.shape[0] != num_frames or rgb.shape[-1] != 3:
            raise ValueError(f"{where}: rgb has shape {rgb.shape}, expected [T, H, W, 3]")
    spans = clip.get("gloss_spans")
    if spans is not None:
        spans = np.asarray(spans)
        n_gloss = len(str(clip.get("gloss", "")).split())
        if spans.shape != (n_gloss, 2):
            raise ValueError(
                f"{where}: gloss_spans has shape {spans.shape}, expected ({n_gloss}, 2)"
            )
