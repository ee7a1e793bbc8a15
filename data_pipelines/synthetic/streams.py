"""Render skeleton joints into the keypoint streams of paper section 3.1.

- dwpose [T, 384]: 128 keypoints (18 body in OpenPose-18 order, 21 left hand,
  21 right hand, 68 face) x (x, y, score), image-normalised.
- mediapipe [T, 258]: 33 BlazePose landmarks x (x, y, z, visibility) + 21 left
  hand + 21 right hand x (x, y, z); an undetected hand is zeros, as MediaPipe.
- smplerx [T, 165]: SMPL-X axis-angle (global, body 21, left hand 15, right
  hand 15, jaw, left eye, right eye) from the skeleton's joint rotations.

Each stream plays a different (imperfect) estimator: its own noise level and
its own behaviour on occluded hands.
"""

from __future__ import annotations

import numpy as np

CAMERA_DISTANCE = 2.5  # metres; mild perspective

OPENPOSE18 = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)  # fmt: skip
# BlazePose 33; ("lhand", i) / ("rhand", i) take hand keypoint i.
BLAZEPOSE33 = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer",
    "l_ear", "r_ear", "mouth_l", "mouth_r", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", ("lhand", 17), ("rhand", 17), ("lhand", 5), ("rhand", 5),
    ("lhand", 2), ("rhand", 2), "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
    "l_heel", "r_heel", "l_foot", "r_foot",
)  # fmt: skip
# SMPL-X finger order (index, middle, pinky, ring, thumb) from ours (thumb..pinky).
_SMPLX_FINGERS = (1, 2, 4, 3, 0)
_THUMB_AXIS = np.array([0.5, 0.0, 0.85]) / np.linalg.norm([0.5, 0.0, 0.85])


def project(points: np.ndarray, camera: dict) -> np.ndarray:
    """World points [..., 3] -> (u, v, depth) [..., 3]; u, v image-normalised, depth in metres
    towards the camera (larger = closer)."""
    persp = CAMERA_DISTANCE / (CAMERA_DISTANCE - points[..., 2])
    u = 0.5 + (points[..., 0] - camera["cx"]) * camera["scale"] * persp
    v = 0.5 - (points[..., 1] - camera["cy"]) * camera["scale"] * persp
    return np.stack([u, v, points[..., 2]], -1)


def _in_image(uv: np.ndarray) -> np.ndarray:
    return np.all((uv[..., :2] >= 0.0) & (uv[..., :2] <= 1.0), axis=-1)


def render_dwpose(fk: dict, camera: dict, occluded: np.ndarray, rng, sigma: float) -> np.ndarray:
    """fk: skeleton.forward_kinematics output; occluded: bool [T, 2] (left, right) -> [T, 384]."""
    body = np.stack([fk["body"][name] for name in OPENPOSE18], 1)
    pts = np.concatenate([body, fk["lhand"], fk["rhand"], fk["face"]], 1)  # [T, 128, 3]
    uv = project(pts, camera)[..., :2]
    num_frames = uv.shape[0]
    score = np.full(uv.shape[:2], 0.9) + rng.normal(0.0, 0.04, uv.shape[:2])
    score[:, 18:60] -= 0.1  # hands are harder than the body
    score = np.where(_in_image(uv), score, rng.uniform(0.02, 0.2, score.shape))
    scale = np.ones(uv.shape[:2])
    for side, cols in ((0, slice(18, 39)), (1, slice(39, 60))):
        occ = occluded[:, side][:, None]
        score[:, cols] = np.where(occ, rng.uniform(0.05, 0.3, (num_frames, 21)), score[:, cols])
        scale[:, cols] = np.where(occ, 6.0, 1.0)  # a detector guessing an occluded hand
    uv = uv + rng.normal(0.0, sigma, uv.shape) * scale[..., None]
    out = np.concatenate([uv, np.clip(score, 0.0, 1.0)[..., None]], -1)
    return out.reshape(num_frames, 384).astype(np.float32)


def render_mediapipe(fk: dict, camera: dict, occluded: np.ndarray, rng, sigma: float) -> np.ndarray:
    """BlazePose 33 x (x, y, z, vis) + hands 21 x (x, y, z) x 2 -> [T, 258]."""
    cols = []
    for item in BLAZEPOSE33:
        cols.append(fk[item[0]][:, item[1]] if isinstance(item, tuple) else fk["body"][item])
    pose = project(np.stack(cols, 1), camera)  # [T, 33, 3]
    num_frames = pose.shape[0]
    hip_depth = fk["body"]["mid_hip"][:, None, 2]
    # MediaPipe z: smaller = closer, roughly in the scale of x.
    pose[..., 2] = -(pose[..., 2] - hip_depth) * camera["scale"]
    vis = np.where(_in_image(pose), 0.95, 0.1) + rng.normal(0.0, 0.02, pose.shape[:2])
    pose = pose + rng.normal(0.0, sigma, pose.shape)
    parts = [np.concatenate([pose, np.clip(vis, 0.0, 1.0)[..., None]], -1).reshape(num_frames, 132)]
    for side, key in ((0, "lhand"), (1, "rhand")):
        hand_pts = project(fk[key], camera)
        hand_pts[..., 2] = -(hand_pts[..., 2] - hand_pts[:, :1, 2]) * camera["scale"]
        hand_pts = hand_pts + rng.normal(0.0, sigma, hand_pts.shape)
        hand_pts = np.where(occluded[:, side][:, None, None], 0.0, hand_pts)
        parts.append(hand_pts.reshape(num_frames, 63))
    return np.concatenate(parts, -1).astype(np.float32)


def _finger_rotvecs(flex: np.ndarray, abd: np.ndarray, side: str) -> np.ndarray:
    """Finger flexion [T, 5, 3] and abduction [T, 5] -> SMPL-X hand pose [T, 45]."""
    flex_axis = np.array([0.0, 0.0, 1.0 if side == "r" else -1.0])
    thumb_axis = _THUMB_AXIS * [1.0, 1.0, 1.0 if side == "r" else -1.0]
    rot = flex[..., None] * flex_axis  # [T, 5, 3, 3]
    rot[:, 0] = flex[:, 0, :, None] * thumb_axis
    rot[:, 1:, 0, 1] += abd[:, 1:] - abd[:, 2:3]  # spread about the palm normal at the MCP
    return rot[:, list(_SMPLX_FINGERS)].reshape(flex.shape[0], 45)


def render_smplerx(fk: dict, rng, sigma: float) -> np.ndarray:
    """SMPL-X pose parameters -> [T, 165]."""
    rot = fk["rot"]
    num_frames = rot["global"].shape[0]
    zero = np.zeros((num_frames, 3))
    half_head = 0.5 * rot["head"]
    body = {i: zero for i in range(1, 22)}
    body.update({1: -rot["global"], 2: -rot["global"], 12: half_head, 15: half_head})
    body.update({16: rot["l_shoulder"], 17: rot["r_shoulder"], 18: rot["l_elbow"]})
    body.update({19: rot["r_elbow"], 20: rot["l_wrist"], 21: rot["r_wrist"]})
    eyes = np.stack(
        [zero[:, 0], -0.3 * rot["head"][:, 1], zero[:, 0]], -1
    )  # gaze holds on the camera
    parts = [rot["global"], *[body[i] for i in range(1, 22)]]
    parts += [_finger_rotvecs(fk["finger_flex_l"], fk["abd_l"], "l")]
    parts += [_finger_rotvecs(fk["finger_flex_r"], fk["abd_r"], "r")]
    parts += [rot["jaw"], eyes, eyes]
    out = np.concatenate(parts, -1)
    return (out + rng.normal(0.0, sigma, out.shape)).astype(np.float32)
