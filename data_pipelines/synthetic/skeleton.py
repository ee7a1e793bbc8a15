"""3-D upper-body skeleton of a synthetic signer (README "Design").

World axes: x = image right (the signer's left), y = up, z = towards the
camera; origin at the hip centre; metres. A frame of signing is an
*articulator state* (``ARTICULATORS``): wrist targets, hand orientations,
finger curls and spread, head rotation, eyebrows, mouth and torso lean.
``forward_kinematics`` turns states [T, P] and a signer's body into joints
(analytic two-bone IK for the arms) and the local joint rotations SMPL-X needs.

Left-hand articulators are stored *mirrored* (x negated, orientation mirrored)
so a symmetric two-handed sign has identical left and right values.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from data_pipelines.synthetic import face, hand

# (name, width) of the articulator state vector, in order.
ARTICULATORS: tuple[tuple[str, int], ...] = (
    ("rh_pos", 3),  # right wrist target, metres from the neck (body frame)
    ("lh_pos", 3),  # left wrist target, mirrored
    ("rh_rot", 3),  # right hand orientation, Euler (rx, ry, rz) rad on BASE_HAND_FRAME
    ("lh_rot", 3),
    ("rh_curl", 5),  # finger curls thumb..pinky
    ("lh_curl", 5),
    ("rh_spread", 1),
    ("lh_spread", 1),
    ("head", 3),  # head (pitch, yaw, roll) rad
    ("brow", 1),  # eyebrow raise, 0..1
    ("mouth", 1),  # mouth opening, 0..1
    ("lean", 2),  # torso (pitch towards camera, roll) rad
)
SLICES: dict[str, slice] = {}
_start = 0
for _name, _width in ARTICULATORS:
    SLICES[_name] = slice(_start, _start + _width)
    _start += _width
NUM_ARTICULATORS = _start
# Articulators that are positions (scaled by amplitude / body size).
POSITION_KEYS = ("rh_pos", "lh_pos")

MIRROR = np.diag([-1.0, 1.0, 1.0])

# Reference body in metres; each signer scales these (see sample_body).
REFERENCE_BODY: dict[str, float] = {
    "torso": 0.50,  # hip centre -> neck
    "shoulder": 0.18,  # half shoulder width
    "shoulder_drop": 0.03,
    "hip": 0.12,  # half hip width
    "upper_arm": 0.29,
    "forearm": 0.25,
    "hand": 0.18,
    "head": 0.095,  # head radius
    "neck": 0.14,  # neck -> head centre
    "thigh": 0.44,
    "shin": 0.42,
}
_REST_ARM_R = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # columns
_REST_ARM_L = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# Hand frame (columns thumb, fingers, palm normal) in the SMPL-X T-pose.
_REST_HAND_R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
_REST_HAND_L = MIRROR @ _REST_HAND_R @ MIRROR
_POLE_R = np.array([-0.5, -1.0, -0.4]) / np.linalg.norm([-0.5, -1.0, -0.4])


def sample_body(
    rng: np.random.Generator, scale_sigma: float, limb_sigma: float
) -> dict[str, float]:
    """Per-signer body proportions: one overall size times a factor per limb."""
    scale = float(np.exp(rng.normal(0.0, scale_sigma)))
    return {
        k: v * scale * float(np.exp(rng.normal(0.0, limb_sigma))) for k, v in REFERENCE_BODY.items()
    }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_bone_ik(shoulder, target, upper, fore, pole) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and reachable wrist for wrist targets. shoulder, target: [T, 3] -> ([T,3], [T,3])."""
    delta = target - shoulder
    dist = np.linalg.norm(delta, axis=-1, keepdims=True)
    dist_c = np.clip(dist, abs(upper - fore) + 1e-3, upper + fore - 1e-3)
    u = delta / np.maximum(dist, 1e-9)
    wrist = shoulder + u * dist_c
    along = (upper**2 - fore**2 + dist_c**2) / (2 * dist_c)
    radial = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    perp = _unit(pole - np.sum(pole * u, axis=-1, keepdims=True) * u)
    return shoulder + along * u + radial * perp, wrist


def _arm_frames(shoulder, elbow, wrist, rest_bend_axis) -> tuple[np.ndarray, np.ndarray]:
    """Upper-arm and forearm frames (columns: bone, bend direction, bend axis). -> [T,3,3] x2."""
    a1 = _unit(elbow - shoulder)
    b1 = _unit(wrist - elbow)
    axis = np.cross(a1, b1)
    # A straight arm has no bend plane: fall back to the rest bend axis.
    straight = np.linalg.norm(axis, axis=-1, keepdims=True) < 1e-4
    axis = _unit(np.where(straight, rest_bend_axis, axis))
    axis = _unit(axis - np.sum(axis * a1, -1, keepdims=True) * a1)
    upper = np.stack([a1, np.cross(axis, a1), axis], axis=-1)
    fore = np.stack([b1, np.cross(axis, b1), axis], axis=-1)
    return upper, fore


def forward_kinematics(states: np.ndarray, body: dict[str, float], offset: np.ndarray) -> dict:
    """Joints and local rotations of a clip.

    states: [T, NUM_ARTICULATORS]; body: sample_body(); offset: [3] signing-space
    shift (metres). Returns a dict with ``body`` {joint: [T, 3]}, ``rhand``,
    ``lhand`` [T, 21, 3], ``face`` [T, 68, 3] (world metres) and ``rot``
    {name: [T, 3] axis-angle} plus ``finger_flex_r/l`` [T, 5, 3] and ``abd_r/l`` [T, 5].
    """
    s = {k: states[:, sl] for k, sl in SLICES.items()}
    num_frames = states.shape[0]
    r_lean = hand.euler_to_matrix(
        np.stack([s["lean"][:, 0], 0 * s["lean"][:, 0], s["lean"][:, 1]], -1)
    )
    to_world = lambda local: np.einsum("tij,tj->ti", r_lean, local)  # body frame -> world
    zeros = np.zeros((num_frames, 3))
    neck = to_world(zeros + [0.0, body["torso"], 0.0])
    reach = (body["upper_arm"] + body["forearm"]) / (
        REFERENCE_BODY["upper_arm"] + REFERENCE_BODY["forearm"]
    )
    joints: dict[str, np.ndarray] = {"neck": neck, "mid_hip": zeros}
    out: dict = {"rot": {}}
    hands, wrist_world = {}, {}
    for side, sign in (("r", -1.0), ("l", 1.0)):
        m = MIRROR if side == "l" else np.eye(3)
        sh = neck + to_world(zeros + [sign * body["shoulder"], -body["shoulder_drop"], 0.0])
        target = neck + to_world((s[f"{side}h_pos"] * reach + offset) @ m)
        pole = _POLE_R @ m
        elbow, wrist = two_bone_ik(sh, target, body["upper_arm"], body["forearm"], pole)
        joints.update({f"{side}_shoulder": sh, f"{side}_elbow": elbow, f"{side}_wrist": wrist})
        # Hand: a right hand computed in the mirrored world, mirrored back.
        e = hand.euler_to_matrix(s[f"{side}h_rot"])
        h_world = r_lean @ m @ e @ hand.BASE_HAND_FRAME @ m  # proper rotation [T,3,3]
        local = hand.hand_keypoints_local(s[f"{side}h_curl"], s[f"{side}h_spread"][:, 0])
        pts = np.einsum("tij,tkj->tki", h_world, local @ m) * body["hand"] + wrist[:, None]
        hands[side], wrist_world[side] = pts, h_world
        # SMPL-X local rotations, parents: spine3 (= lean) -> shoulder -> elbow -> wrist.
        rest_arm = _REST_ARM_L if side == "l" else _REST_ARM_R
        upper, fore = _arm_frames(sh, elbow, wrist, rest_arm[:, 2])
        g_sh = upper @ rest_arm.T
        g_el = fore @ rest_arm.T
        g_wr = h_world @ (_REST_HAND_L if side == "l" else _REST_HAND_R).T
        local_rots = {
            "shoulder": np.swapaxes(r_lean, 1, 2) @ g_sh,
            "elbow": np.swapaxes(g_sh, 1, 2) @ g_el,
            "wrist": np.swapaxes(g_el, 1, 2) @ g_wr,
        }
        for name, mat in local_rots.items():
            out["rot"][f"{side}_{name}"] = Rotation.from_matrix(mat.reshape(-1, 3, 3)).as_rotvec()
        flex, abd = hand.finger_angles(s[f"{side}h_curl"], s[f"{side}h_spread"][:, 0])
        out[f"finger_flex_{side}"], out[f"abd_{side}"] = flex, abd
        hip = zeros + [sign * body["hip"], 0.0, 0.0]
        knee = hip + [0.0, -body["thigh"], 0.02]
        ankle = knee + [0.0, -body["shin"], -0.02]
        joints.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle})
        joints[f"{side}_heel"] = ankle + [0.0, -0.05, -0.05]
        joints[f"{side}_foot"] = ankle + [0.0, -0.06, 0.12]
    # Head rotates about the neck; the face template lives in head-radius units.
    r_head_local = hand.euler_to_matrix(s["head"])
    r_head = r_lean @ r_head_local
    head_center = neck + np.einsum("tij,j->ti", r_head, np.array([0.0, body["neck"], 0.01]))
    face_local = face.face_template(s["brow"][:, 0], s["mouth"][:, 0])  # [T, 68, 3]
    to_head = lambda p: head_center[:, None] + np.einsum("tij,tkj->tki", r_head, p) * body["head"]
    face_pts = to_head(face_local)
    ears = to_head(np.broadcast_to(face.EARS, (num_frames, 2, 3)))
    top = to_head(np.broadcast_to(np.array([[0.0, 1.1, 0.0]]), (num_frames, 1, 3)))
    joints.update(face.named_face_points(face_pts))
    joints.update({"r_ear": ears[:, 0], "l_ear": ears[:, 1], "head_center": head_center})
    joints["head_top"] = top[:, 0]
    out["rot"]["global"] = Rotation.from_matrix(r_lean).as_rotvec()
    out["rot"]["head"] = Rotation.from_matrix(r_head_local).as_rotvec()
    out["rot"]["jaw"] = np.stack(
        [0.35 * s["mouth"][:, 0], 0 * s["mouth"][:, 0], 0 * s["mouth"][:, 0]], -1
    )
    out.update({"body": joints, "rhand": hands["r"], "lhand": hands["l"], "face": face_pts})
    out["hand_frames"] = wrist_world
    return out
