"""Face of the synthetic signer: the 68 iBUG landmarks (paper section 3.1; README "Design").

Landmarks are in head-local coordinates in head radii (x = signer's left,
y = up, z = out of the face), in the iBUG-68 order DWPose uses: 0-16 jaw (from
the signer's right), 17-21 right brow, 22-26 left brow, 27-35 nose, 36-41
right eye, 42-47 left eye, 48-59 outer lips, 60-67 inner lips. Eyebrow raise
and mouth opening are the non-manual articulators.
"""

from __future__ import annotations

import numpy as np

EARS = np.array([[-1.0, 0.05, -0.1], [1.0, 0.05, -0.1]])  # right, left


def _circle(n: int, start: float) -> np.ndarray:
    """n (cos, sin) unit-circle points starting at angle ``start`` -> [n, 2]."""
    ang = start + np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(ang), np.sin(ang)], -1)


def _static_template() -> np.ndarray:
    """Neutral face (brows down, mouth closed) -> [68, 3]."""
    pts = np.zeros((68, 3))
    theta = np.linspace(0.0, np.pi, 17)  # jaw arc, right ear -> chin -> left ear
    pts[0:17] = np.stack(
        [-0.9 * np.cos(theta), 0.15 - 1.05 * np.sin(theta), 0.2 + 0.6 * np.sin(theta)], -1
    )
    brow_x = np.linspace(-0.65, -0.15, 5)
    pts[17:22] = np.stack(
        [brow_x, 0.38 + 0.05 * np.sin(np.linspace(0, np.pi, 5)), 0.85 + 0 * brow_x], -1
    )
    pts[22:27] = pts[17:22][::-1] * [-1, 1, 1]
    pts[27:31] = np.stack([np.zeros(4), np.linspace(0.25, -0.1, 4), np.linspace(0.9, 1.08, 4)], -1)
    pts[31:36] = np.stack([np.linspace(-0.15, 0.15, 5), np.full(5, -0.18), np.full(5, 0.92)], -1)
    for first, cx in ((36, -0.38), (42, 0.38)):
        circ = _circle(6, np.pi)
        pts[first : first + 6] = np.stack(
            [cx + 0.14 * circ[:, 0], 0.15 + 0.05 * circ[:, 1], np.full(6, 0.88)], -1
        )
    outer = _circle(12, np.pi)
    pts[48:60] = np.stack([0.3 * outer[:, 0], -0.5 + 0.06 * outer[:, 1], np.full(12, 0.9)], -1)
    inner = _circle(8, np.pi)
    pts[60:68] = np.stack([0.2 * inner[:, 0], -0.5 + 0.02 * inner[:, 1], np.full(8, 0.88)], -1)
    return pts


_TEMPLATE = _static_template()
# How much each landmark moves (y) per unit of brow raise / mouth opening.
_BROW_GAIN = np.zeros(68)
_BROW_GAIN[17:27] = 0.14
_MOUTH_GAIN = np.zeros(68)
_MOUTH_GAIN[5:12] = -0.12  # the lower jaw drops
_lower_outer = [i for i in range(48, 60) if _TEMPLATE[i, 1] < -0.5 - 1e-6]
_lower_inner = [i for i in range(60, 68) if _TEMPLATE[i, 1] < -0.5 - 1e-6]
_MOUTH_GAIN[_lower_outer] = -0.2
_MOUTH_GAIN[_lower_inner] = -0.17


def face_template(brow: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """brow, mouth: [T] -> landmarks [T, 68, 3] in head radii."""
    pts = np.broadcast_to(_TEMPLATE, (brow.shape[0], 68, 3)).copy()
    pts[..., 1] += brow[:, None] * _BROW_GAIN + np.clip(mouth, 0, None)[:, None] * _MOUTH_GAIN
    return pts


def named_face_points(face: np.ndarray) -> dict[str, np.ndarray]:
    """Body keypoints that sit on the face. face: [T, 68, 3] -> {name: [T, 3]}."""
    return {
        "nose": face[:, 30],
        "r_eye": face[:, 36:42].mean(1),
        "l_eye": face[:, 42:48].mean(1),
        "r_eye_inner": face[:, 39],
        "r_eye_outer": face[:, 36],
        "l_eye_inner": face[:, 42],
        "l_eye_outer": face[:, 45],
        "mouth_r": face[:, 48],
        "mouth_l": face[:, 54],
    }
