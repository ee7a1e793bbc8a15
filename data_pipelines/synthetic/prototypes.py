"""Gloss prototypes: one smooth articulator trajectory per gloss (README "Design").

Every gloss gets a phonological recipe drawn from small shared inventories --
(location, hand shape, movement, orientation, hand use, non-manuals) -- so the
recipes are unique per gloss but many pairs share all but one parameter
(minimal pairs: same location and movement, different hand shape, ...). A
recipe becomes keyframes of the articulator state (skeleton.ARTICULATORS) on a
normalised time axis; ``sample_trajectory`` interpolates them (cubic) to any
number of frames, so a signer's speed changes the duration, not the shape.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.interpolate import CubicSpline

from data_pipelines.synthetic import hand
from data_pipelines.synthetic.skeleton import NUM_ARTICULATORS, SLICES

# Wrist locations (metres from the neck, body frame) for the right hand; the
# left hand uses the same table mirrored.
LOCATIONS: dict[str, tuple[float, float, float]] = {
    "forehead": (-0.03, 0.21, 0.17),
    "chin": (-0.02, 0.05, 0.18),
    "cheek": (-0.12, 0.10, 0.13),
    "ear": (-0.17, 0.12, 0.05),
    "chest": (-0.02, -0.18, 0.18),
    "shoulder_opposite": (0.10, -0.06, 0.16),
    "neutral": (-0.10, -0.20, 0.32),
    "neutral_high": (-0.12, 0.02, 0.36),
    "belly": (-0.06, -0.36, 0.22),
    "side": (-0.34, -0.16, 0.18),
    "above_head": (-0.14, 0.38, 0.16),
}
# Hand orientation (Euler rx, ry, rz) relative to hand.BASE_HAND_FRAME.
ORIENTATIONS: dict[str, tuple[float, float, float]] = {
    "palm_in": (0.0, 0.0, 0.0),
    "palm_out": (0.0, -1.57, 0.0),  # palm to the camera
    "palm_down": (0.0, -0.6, 1.4),  # fingers forward-ish, palm down
    "palm_up": (0.0, 0.6, 1.4),
    "palm_body": (0.0, 1.57, 0.0),
}
# Movement -> wrist displacement (metres at amplitude 1) as a function of the
# normalised time u in [0, 1]; "wiggle" / "twist" / "change" move other parts.
MOVEMENTS = (
    "tap",
    "down",
    "sideways",
    "forward",
    "circle",
    "arc",
    "shake",
    "wiggle",
    "twist",
    "change",
)
HAND_USE = ("one", "one", "symmetric", "base")  # one-handed is the most common
_NONMANUAL = ("none", "none", "none", "brow", "mouth", "nod", "headshake")
NUM_KEYFRAMES = 9
REST_POS = (-0.16, -0.50, 0.10)
REST_ROT = (0.0, -0.3, 1.2)


def movement_offset(movement: str, u: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Wrist displacement [K, 3] at times u [K]; direction [3] is a per-gloss unit jitter."""
    z = np.zeros_like(u)
    if movement == "tap":
        off = np.stack([z, z, -0.05 * np.abs(np.sin(2 * np.pi * u))], -1)
    elif movement == "down":
        off = np.stack([z, -0.14 * u, z], -1)
    elif movement == "sideways":
        off = np.stack([0.16 * u, z, z], -1)
    elif movement == "forward":
        off = np.stack([z, 0.03 * u, 0.16 * u], -1)
    elif movement == "circle":
        off = np.stack([0.07 * (np.cos(2 * np.pi * u) - 1), 0.07 * np.sin(2 * np.pi * u), z], -1)
    elif movement == "arc":
        off = np.stack([0.14 * u, 0.08 * np.sin(np.pi * u), z], -1)
    elif movement == "shake":
        off = np.stack([0.05 * np.sin(4 * np.pi * u), z, z], -1)
    else:
        off = np.stack([z, z, z], -1)
    # A small per-gloss skew so no two glosses share a movement exactly.
    return off + 0.03 * u[:, None] * direction


def rest_state() -> np.ndarray:
    """Articulator state of the rest pose (hands in the lap) -> [P]."""
    state = np.zeros(NUM_ARTICULATORS)
    for side in ("rh", "lh"):
        state[SLICES[f"{side}_pos"]] = REST_POS
        state[SLICES[f"{side}_rot"]] = REST_ROT
        state[SLICES[f"{side}_curl"]] = hand.REST_SHAPE[:5]
        state[SLICES[f"{side}_spread"]] = hand.REST_SHAPE[5]
    return state


def draw_recipes(vocab: list[str], seed: int) -> dict[str, dict]:
    """A unique (location, shape, movement, hand use) recipe per gloss.

    Depends only on ``seed`` and the sorted gloss set, so every split and worker
    sees the same prototypes.
    """
    rng = np.random.default_rng([seed, zlib.crc32(b"recipes")])
    combos = [
        (loc, shape, move, use)
        for loc in LOCATIONS
        for shape in hand.HANDSHAPES
        for move in MOVEMENTS
        for use in sorted(set(HAND_USE))
    ]
    glosses = sorted(set(vocab))
    if len(glosses) > len(combos):
        raise ValueError(f"prototypes.py: {len(glosses)} glosses but only {len(combos)} recipes")
    # Weighted so one-handed signs dominate, as in real lexicons.
    weights = np.array([2.0 if c[3] == "one" else 1.0 for c in combos])
    picks = rng.choice(len(combos), size=len(glosses), replace=False, p=weights / weights.sum())
    recipes = {}
    for gloss, pick in zip(glosses, picks, strict=True):
        loc, shape, move, use = combos[pick]
        recipes[gloss] = {
            "location": loc,
            "shape": shape,
            "shape_end": str(rng.choice(list(hand.HANDSHAPES))) if move == "change" else shape,
            "movement": move,
            "hand_use": use,
            "orientation": str(rng.choice(list(ORIENTATIONS))),
            "nonmanual": str(rng.choice(_NONMANUAL)),
            "jitter": rng.normal(0.0, 1.0, 3),
            "loc_jitter": rng.normal(0.0, 0.015, 3),
            "duration": 0.0,  # fraction in [0, 1] of the frame range, set below
        }
        recipes[gloss]["duration"] = float(rng.uniform(0.0, 1.0))
    return recipes


def recipe_keyframes(recipe: dict) -> np.ndarray:
    """Keyframes [NUM_KEYFRAMES, P] of a gloss on the time grid linspace(0, 1)."""
    u = np.linspace(0.0, 1.0, NUM_KEYFRAMES)
    keys = np.broadcast_to(rest_state(), (NUM_KEYFRAMES, NUM_ARTICULATORS)).copy()
    loc = np.asarray(LOCATIONS[recipe["location"]]) + recipe["loc_jitter"]
    direction = recipe["jitter"] / max(np.linalg.norm(recipe["jitter"]), 1e-9)
    pos = loc + movement_offset(recipe["movement"], u, direction)
    shape0 = np.asarray(hand.HANDSHAPES[recipe["shape"]])
    shape1 = np.asarray(hand.HANDSHAPES[recipe["shape_end"]])
    ramp = np.clip((u - 0.2) / 0.6, 0.0, 1.0)[:, None]
    shape = (1 - ramp) * shape0 + ramp * shape1
    if recipe["movement"] == "wiggle":
        shape[:, 1:5] += 0.35 * np.sin(4 * np.pi * u[:, None] + np.arange(4) * 0.8)
    rot = np.broadcast_to(
        np.asarray(ORIENTATIONS[recipe["orientation"]]), (NUM_KEYFRAMES, 3)
    ).copy()
    if recipe["movement"] == "twist":
        rot[:, 1] += 1.3 * u
    keys[:, SLICES["rh_pos"]], keys[:, SLICES["rh_rot"]] = pos, rot
    keys[:, SLICES["rh_curl"]], keys[:, SLICES["rh_spread"]] = shape[:, :5], shape[:, 5:]
    if recipe["hand_use"] == "symmetric":  # left = mirror of right (stored mirrored)
        for part in ("pos", "rot", "curl", "spread"):
            keys[:, SLICES[f"lh_{part}"]] = keys[:, SLICES[f"rh_{part}"]]
    elif recipe["hand_use"] == "base":  # static flat left hand; the right acts on it
        base = np.asarray(LOCATIONS["neutral"]) * [-1, 1, 1] + [0.12, -0.04, 0.0]
        keys[:, SLICES["lh_pos"]] = base * [-1, 1, 1]  # stored mirrored
        keys[:, SLICES["lh_rot"]] = ORIENTATIONS["palm_up"]
        keys[:, SLICES["lh_curl"]] = hand.HANDSHAPES["flat_B"][:5]
        keys[:, SLICES["lh_spread"]] = 0.0
        keys[:, SLICES["rh_pos"]] = base + [0.0, 0.07, 0.0] + (pos - loc)
    nm = recipe["nonmanual"]
    if nm == "brow":
        keys[:, SLICES["brow"]] = np.sin(np.pi * u)[:, None]
    elif nm == "mouth":
        keys[:, SLICES["mouth"]] = (0.6 * np.abs(np.sin(2 * np.pi * u)))[:, None]
    elif nm == "nod":
        keys[:, SLICES["head"].start] = 0.25 * np.sin(2 * np.pi * u)
    elif nm == "headshake":
        keys[:, SLICES["head"].start + 1] = 0.3 * np.sin(4 * np.pi * u)
    return keys


def sample_trajectory(keys: np.ndarray, num_frames: int) -> np.ndarray:
    """Cubic interpolation of keyframes [K, P] to [num_frames, P] over [0, 1]."""
    spline = CubicSpline(np.linspace(0.0, 1.0, keys.shape[0]), keys, axis=0)
    return spline(np.linspace(0.0, 1.0, num_frames))


def nominal_frames(recipe: dict, min_frames: int, max_frames: int) -> int:
    """A gloss's duration at speed 1: larger movements take longer."""
    bonus = 0.25 if recipe["movement"] in ("circle", "shake", "wiggle", "change") else 0.0
    frac = min(1.0, 0.75 * recipe["duration"] + bonus)
    return int(round(min_frames + frac * (max_frames - min_frames)))
