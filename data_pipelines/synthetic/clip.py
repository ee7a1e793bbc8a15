"""One synthetic clip: a gloss sentence signed by one signer (README "Design").

Timeline: rest pose -> transition -> sign 1 -> transition -> sign 2 ... ->
transition -> rest. Each sign is its gloss prototype resampled to a duration
set by signer x clip x sign speed, with movement scaled by signer x clip
amplitude; transitions are eased interpolations between the last state of
one sign and the first of the next, and a Gaussian temporal blur over the
whole state sequence makes neighbouring signs co-articulate. ``gloss_spans``
are the exact [start, end) frames of each sign's own part.

The rendered streams then get estimator noise, dropped frames (all streams
zero, presence False), occluded hands (low DWPose score, no MediaPipe hand)
and, rarely, a stream missing from the whole clip.
"""

from __future__ import annotations

import zlib

import ml_collections
import numpy as np
from scipy.ndimage import gaussian_filter1d

from data_pipelines.synthetic import prototypes, raster, skeleton, streams
from signx_jax import schema

_SKIN_TONES = np.array(
    [[241, 194, 167], [224, 172, 105], [198, 134, 66], [141, 85, 36], [255, 219, 172]]
)
_MAP_SIZE = int(round(np.sqrt(schema.STREAM_DIMS["primedepth"])))  # 24 x 24


def sample_signer(cfg: ml_collections.ConfigDict, signer_id: str) -> dict:
    """Body proportions, speed, amplitude, signing-space shift and colours of a signer."""
    rng = np.random.default_rng([cfg.seed, zlib.crc32(b"signer"), zlib.crc32(signer_id.encode())])
    body = skeleton.sample_body(rng, cfg.body_scale_sigma, cfg.limb_sigma)
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.normal(0, 8, 3)
    cloth = rng.uniform(20, 200, 3)
    colours = {
        "skin": skin,
        "cloth": cloth,
        "sleeve": cloth * 0.85,
        "hair": rng.uniform(10, 120) * np.array([1.0, 0.8, 0.6]),
        "feature": np.array([60.0, 30.0, 30.0]),
    }
    return {
        "id": signer_id,
        "body": body,
        "speed": float(np.exp(rng.normal(0.0, cfg.signer_speed_sigma))),
        "amplitude": float(np.exp(rng.normal(0.0, cfg.amplitude_sigma))),
        "offset": rng.normal(0.0, cfg.location_sigma, 3),
        "colours": colours,
    }


def _ease(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """n frames strictly between states a and b, cosine eased -> [n, P]."""
    w = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, n + 1) / (n + 1))
    return a + w[:, None] * (b - a)


def sign_states(
    glosses: list[str], world: dict, signer: dict, rng: np.random.Generator, cfg
) -> tuple[np.ndarray, np.ndarray]:
    """Articulator states [T, P] and gloss spans int32 [N, 2] of one sentence."""
    rest = prototypes.rest_state()
    speed = signer["speed"] * np.exp(rng.normal(0.0, cfg.clip_speed_sigma))
    amp = signer["amplitude"] * np.exp(rng.normal(0.0, cfg.amplitude_sigma))
    pieces = [np.repeat(rest[None], rng.integers(cfg.min_rest_frames, cfg.max_rest_frames + 1), 0)]
    spans, prev, length = [], rest, pieces[0].shape[0]
    for i, gloss in enumerate(glosses):
        nominal = world["durations"][gloss]
        n = max(3, int(round(nominal / (speed * np.exp(rng.normal(0.0, cfg.sign_speed_sigma))))))
        traj = prototypes.sample_trajectory(world["keyframes"][gloss], n)
        for key in skeleton.POSITION_KEYS:
            sl = skeleton.SLICES[key]
            mean = traj[:, sl].mean(0)
            traj[:, sl] = mean + amp * (traj[:, sl] - mean)
        n_trans = (
            cfg.rest_transition_frames
            if i == 0
            else int(rng.integers(cfg.min_transition_frames, cfg.max_transition_frames + 1))
        )
        pieces.append(_ease(prev, traj[0], n_trans))
        length += n_trans
        spans.append((length, length + n))
        pieces.append(traj)
        length += n
        prev = traj[-1]
    pieces.append(_ease(prev, rest, cfg.rest_transition_frames))
    pieces.append(
        np.repeat(rest[None], rng.integers(cfg.min_rest_frames, cfg.max_rest_frames + 1), 0)
    )
    states = np.concatenate(pieces, 0)
    if cfg.coarticulation_sigma > 0:
        states = gaussian_filter1d(states, cfg.coarticulation_sigma, axis=0, mode="nearest")
    # Slow wobble of the wrists: people never hold a position perfectly still.
    for key in skeleton.POSITION_KEYS:
        wobble = rng.normal(0.0, cfg.tremor_sigma, (states.shape[0], 3))
        states[:, skeleton.SLICES[key]] += gaussian_filter1d(wobble, 2.0, axis=0) * 3.0
    return states, np.asarray(spans, np.int32).reshape(-1, 2)


def _occlusions(num_frames: int, rng: np.random.Generator, cfg) -> np.ndarray:
    """bool [T, 2] (left, right): a window where a hand is hidden."""
    occ = np.zeros((num_frames, 2), bool)
    for side in range(2):
        if rng.random() < cfg.p_occlude_hand:
            n = int(rng.integers(2, cfg.max_occlusion_frames + 1))
            start = int(rng.integers(0, max(1, num_frames - n)))
            occ[start : start + n, side] = True
    return occ


def render_clip(
    glosses: list[str], world: dict, signer: dict, rng: np.random.Generator, cfg
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None, np.ndarray]:
    """-> (poses {stream: float32 [T, dim]}, presence bool [T, 5], rgb uint8 | None, spans)."""
    states, spans = sign_states(glosses, world, signer, rng, cfg)
    fk = skeleton.forward_kinematics(states, signer["body"], signer["offset"])
    noise = cfg.noise
    scale = cfg.camera_scale * np.exp(rng.normal(0.0, noise.camera_scale_sigma))
    camera = {
        "scale": scale,
        "cx": rng.normal(0.0, noise.camera_shift) / scale,
        "cy": signer["body"]["torso"]
        + cfg.camera_center_y
        + rng.normal(0.0, noise.camera_shift) / scale,
    }
    num_frames = states.shape[0]
    occluded = _occlusions(num_frames, rng, cfg)
    depth, seg = raster.render_maps(fk, signer["body"], camera, _MAP_SIZE, cfg.num_parts)
    fg = depth > 0
    depth = np.where(fg, np.clip(depth + rng.normal(0.0, noise.primedepth, depth.shape), 0, 1), 0)
    flip = rng.random(seg.shape) < noise.sapiens_flip
    seg = np.where(flip, rng.integers(0, cfg.num_parts, seg.shape) / cfg.num_parts, seg)
    poses = {
        "dwpose": streams.render_dwpose(fk, camera, occluded, rng, noise.dwpose),
        "mediapipe": streams.render_mediapipe(fk, camera, occluded, rng, noise.mediapipe),
        "smplerx": streams.render_smplerx(fk, rng, noise.smplerx),
        "primedepth": depth.astype(np.float32),
        "sapiens": seg.astype(np.float32),
    }
    presence = np.ones((num_frames, len(schema.STREAMS)), bool)
    for k, name in enumerate(schema.STREAM_NAMES):
        if rng.random() < cfg.p_stream_missing:
            poses[name][:] = 0.0
            presence[:, k] = False
    dropped = rng.random(num_frames) < cfg.p_drop_frame
    for name in schema.STREAM_NAMES:
        poses[name][dropped] = 0.0
    presence[dropped] = False
    rgb = None
    if cfg.rgb:
        colours = dict(signer["colours"], background=rng.uniform(170, 235) + rng.normal(0, 6, 3))
        img = raster.render_rgb(fk, signer["body"], camera, cfg.image_size, colours)
        # Luminance (grey) sensor noise: one draw per pixel, shared by R, G, B.
        img = img + noise.rgb * rng.standard_normal((*img.shape[:3], 1), dtype=np.float32)
        rgb = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return poses, presence, rgb, spans
