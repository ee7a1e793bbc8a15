"""Hand model of the synthetic signer: hand shapes and finger kinematics (README "Design").

A hand shape is 5 finger curls (thumb, index, middle, ring, pinky; 0 = straight,
1 = fully bent) plus a spread (0 = fingers together, 1 = splayed). The hand
keypoints follow the 21-point layout of OpenPose / MediaPipe / DWPose:
0 wrist, 1-4 thumb (CMC, MCP, IP, tip), then index, middle, ring, pinky, each
(MCP, PIP, DIP, tip).

Geometry is a right hand in its own frame: fingers along +y, palm normal +z
(curling bends towards +z), thumb towards +x. Left hands are computed as
mirrored right hands by the caller (skeleton.py), so one table serves both.
"""

from __future__ import annotations

import numpy as np

# name -> (thumb, index, middle, ring, pinky curls, spread). A small shared set,
# so that several glosses use the same shape (minimal pairs differ elsewhere).
HANDSHAPES: dict[str, tuple[float, ...]] = {
    "flat_B": (0.35, 0.0, 0.0, 0.0, 0.0, 0.0),
    "open_5": (0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    "fist_S": (0.7, 1.0, 1.0, 1.0, 1.0, 0.0),
    "point_1": (0.8, 0.0, 1.0, 1.0, 1.0, 0.0),
    "vee_V": (0.8, 0.0, 0.0, 1.0, 1.0, 0.9),
    "claw": (0.3, 0.55, 0.55, 0.55, 0.55, 0.8),
    "C_shape": (0.25, 0.4, 0.4, 0.4, 0.4, 0.1),
    "O_shape": (0.6, 0.7, 0.7, 0.7, 0.7, 0.0),
    "Y_shape": (0.0, 1.0, 1.0, 1.0, 0.0, 0.7),
    "L_shape": (0.0, 0.0, 1.0, 1.0, 1.0, 0.3),
    "bent_flat": (0.35, 0.5, 0.5, 0.5, 0.5, 0.0),
}
REST_SHAPE = (0.3, 0.3, 0.35, 0.4, 0.45, 0.2)

# Per finger (thumb, index, middle, ring, pinky): base point in hand lengths,
# three segment lengths, and the in-plane angle (rad from +y) when spread = 1.
_BASE = np.array(
    [
        [0.20, 0.12, 0.0],
        [0.17, 0.45, 0.0],
        [0.05, 0.47, 0.0],
        [-0.07, 0.45, 0.0],
        [-0.18, 0.41, 0.0],
    ]
)
_SEGMENTS = np.array(
    [
        [0.20, 0.16, 0.13],
        [0.22, 0.13, 0.10],
        [0.25, 0.15, 0.10],
        [0.23, 0.14, 0.10],
        [0.18, 0.10, 0.08],
    ]
)
_SPREAD_ANGLE = np.array([-0.9, -0.25, -0.05, 0.15, 0.35])  # negative = towards thumb (+x)
_REST_ANGLE = np.array([-0.75, -0.04, 0.0, 0.04, 0.1])
# Bend of (MCP, PIP, DIP) at curl = 1, radians; the thumb bends less.
_FLEX = np.array(
    [[0.6, 0.7, 0.8], [1.45, 1.7, 1.1], [1.45, 1.7, 1.1], [1.45, 1.7, 1.1], [1.45, 1.7, 1.1]]
)


def finger_angles(curls: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint angles of the 5 fingers.

    curls: [T, 5], spread: [T] -> (flexion [T, 5, 3] rad, abduction [T, 5] rad).
    """
    flex = np.clip(curls, -0.1, 1.2)[..., None] * _FLEX  # [T, 5, 3]
    abd = _REST_ANGLE + spread[..., None] * (_SPREAD_ANGLE - _REST_ANGLE)  # [T, 5]
    return flex, abd


def hand_keypoints_local(curls: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """21 hand keypoints of a right hand in its own frame, in hand lengths.

    curls: [T, 5], spread: [T] -> [T, 21, 3].
    """
    flex, abd = finger_angles(curls, spread)
    num_frames = curls.shape[0]
    # In-plane finger direction (x, y) rotated by abduction; the thumb opposes
    # by also tilting towards the palm.
    plane = np.stack([-np.sin(abd), np.cos(abd), np.zeros_like(abd)], axis=-1)  # [T, 5, 3]
    palm = np.array([0.0, 0.0, 1.0])
    # The thumb bends across the palm rather than straight towards it.
    bend_dir = np.broadcast_to(palm, plane.shape).copy()
    bend_dir[:, 0] = np.array([-0.6, 0.0, 0.8])
    cum = np.cumsum(flex, axis=-1)  # [T, 5, 3] cumulative bend after each joint
    seg_dirs = (
        np.cos(cum)[..., None] * plane[:, :, None, :]
        + np.sin(cum)[..., None] * bend_dir[:, :, None, :]
    )  # [T, 5, 3 segments, 3]
    steps = seg_dirs * _SEGMENTS[None, :, :, None]
    chain = _BASE[None, :, None, :] + np.cumsum(steps, axis=2)  # [T, 5, 3, 3]
    base = np.broadcast_to(_BASE, (num_frames, 5, 3))[:, :, None, :]
    fingers = np.concatenate([base, chain], axis=2).reshape(num_frames, 20, 3)
    wrist = np.zeros((num_frames, 1, 3))
    return np.concatenate([wrist, fingers], axis=1)


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """Rotation Rz @ Ry @ Rx. angles: [..., 3] (rx, ry, rz) rad -> [..., 3, 3]."""
    rx, ry, rz = angles[..., 0], angles[..., 1], angles[..., 2]
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    one, zero = np.ones_like(rx), np.zeros_like(rx)
    mx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*rx.shape, 3, 3)
    my = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*rx.shape, 3, 3)
    mz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*rx.shape, 3, 3)
    return mz @ my @ mx


# Hand frame at zero orientation, for a right hand in world axes (x = image
# right = signer's left, y = up, z = towards the camera): fingers up, palm
# towards the body midline (+x), thumb towards the signer (-z).
BASE_HAND_FRAME = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
