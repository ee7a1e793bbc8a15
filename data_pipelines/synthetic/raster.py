"""Rasterise the projected body: depth, part segmentation, RGB (paper section 3.1; README "Design").

The body is a set of thick 3-D segments (torso, neck, head disc, arms, palms,
finger bones, and face features for RGB) projected by streams.project. For
every pixel the frontmost covering segment wins (a z-buffer over segments),
fully vectorised over frames x segments x pixels in numpy.

- primedepth [T, 576]: 24 x 24 map, (depth - back) / (front - back) in [0, 1],
  background 0 (larger = closer to the camera).
- sapiens [T, 576]: 24 x 24 map of part id / num_parts, background 0.
- rgb [T, S, S, 3] uint8: parts in signer skin / clothing colours on a plain
  background.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.synthetic.streams import project

# Part ids of the segmentation map (0 = background).
PARTS = ("background", "head", "neck", "torso", "r_upper_arm", "r_forearm", "r_hand")
PARTS += ("l_upper_arm", "l_forearm", "l_hand")
_PART = {name: i for i, name in enumerate(PARTS)}
DEPTH_RANGE = (-0.4, 0.7)  # metres relative to the hips mapped to [0, 1]
# Two bones per finger (base -> middle joint -> tip) are enough at 64 px.
_FINGER_BONES = [(b, b + 1) for b in range(1, 21, 4)] + [(b + 1, b + 3) for b in range(1, 21, 4)]
_FACE_FEATURES = ((36, 39), (42, 45), (17, 21), (22, 26), (48, 54), (51, 57))
_SPLAT_STEP = 0.7  # pixels between capsule samples (< 1/sqrt(2): no holes)
_CHUNK_PIXELS = 2_000_000  # frames x segments x pixels per numpy batch (memory bound)


def _segments(fk: dict, body: dict) -> tuple[list, list]:
    """(endpoints [T, 2, 3] per segment, (radius m, part, colour, depth bias, rgb only, group)).

    Segments of one group share a z-buffer window (see _zbuffer).
    """
    j = fk["body"]
    segs, meta = [], []

    def add(group, a, b, radius, part, colour, bias=0.0, rgb_only=False):
        segs.append(np.stack([a, b], 1))
        meta.append((radius, _PART[part], colour, bias, rgb_only, group))

    add("torso", j["neck"], j["mid_hip"], body["shoulder"], "torso", "cloth")
    for s in ("r", "l"):
        add(f"{s}_arm", j[f"{s}_shoulder"], j[f"{s}_elbow"], 0.05, f"{s}_upper_arm", "cloth")
        add(f"{s}_arm", j[f"{s}_elbow"], j[f"{s}_wrist"], 0.04, f"{s}_forearm", "sleeve")
        pts = fk[f"{s}hand"]
        add(f"{s}_hand", pts[:, 0], pts[:, 9], 0.22 * body["hand"], f"{s}_hand", "skin", 0.01)
        for a, b in _FINGER_BONES:
            add(f"{s}_hand", pts[:, a], pts[:, b], 0.06 * body["hand"], f"{s}_hand", "skin", 0.015)
    add("head", j["neck"], 0.5 * (j["neck"] + j["head_center"]), 0.05, "neck", "skin")
    add("head", j["head_center"], j["head_center"], 1.05 * body["head"], "head", "skin", 0.05)
    top = j["head_center"] * 0.3 + j["head_top"] * 0.7
    add("head", j["head_top"], top, 0.8 * body["head"], "head", "hair")
    for a, b in _FACE_FEATURES:
        face = fk["face"]
        add("face", face[:, a], face[:, b], 0.008, "head", "feature", 0.2, True)
    return segs, meta


def _depth_if_covered(a, b, r2, bias, pu, pv) -> np.ndarray:
    """Depth of each segment at each pixel, -inf where the pixel is outside it.

    a, b: [t, S, 3] projected endpoints (u, v, depth); r2, bias: [S];
    pu, pv: pixel centres broadcastable to [t, 1, P] -> [t, S, P] float32.
    """
    ab = b - a
    apx, apy = pu - a[..., 0:1], pv - a[..., 1:2]
    inv = 1.0 / np.maximum(ab[..., 0:1] ** 2 + ab[..., 1:2] ** 2, 1e-12)
    w = np.clip((ab[..., 0:1] * apx + ab[..., 1:2] * apy) * inv, 0.0, 1.0)
    dx, dy = apx - w * ab[..., 0:1], apy - w * ab[..., 1:2]
    z = a[..., 2:3] + w * ab[..., 2:3] + bias[:, None]
    return np.where(dx * dx + dy * dy <= r2[:, None], z, -np.inf).astype(np.float32)


def _frontmost(seg_uvz, radius, bias, pu, pv) -> tuple[np.ndarray, np.ndarray]:
    """(segment index [t, P], depth [t, P]) of the frontmost segment; chunked over frames."""
    num_frames, num_segs = seg_uvz.shape[:2]
    num_pix = pu.shape[-1]
    step = max(1, _CHUNK_PIXELS // (num_segs * num_pix))
    index = np.empty((num_frames, num_pix), np.int32)
    depth = np.empty((num_frames, num_pix), np.float32)
    r2, bias = (radius**2).astype(np.float32), bias.astype(np.float32)
    for t0 in range(0, num_frames, step):
        sl = slice(t0, t0 + step)
        cu = pu if pu.shape[0] == 1 else pu[sl]
        cv = pv if pv.shape[0] == 1 else pv[sl]
        z = _depth_if_covered(seg_uvz[sl, :, 0], seg_uvz[sl, :, 1], r2, bias, cu, cv)
        best = np.argmax(z, axis=1)
        index[sl] = best
        depth[sl] = np.take_along_axis(z, best[:, None], 1)[:, 0]
    return index, depth


def _zbuffer(seg_uvz: np.ndarray, radius: np.ndarray, bias: np.ndarray, groups, size: int):
    """Frontmost segment per pixel of a size x size image.

    seg_uvz: [T, S, 2, 3] projected endpoints (u, v, depth); radius, bias: [S];
    groups: [S] group names. Each group (one body segment, or all bones of a
    hand) is only tested on a square window that follows it from frame to
    frame: testing every segment on every pixel would cost ~5x more.
    -> (index [T, size*size], -1 = background; depth [T, size*size], 0 there).
    """
    seg_uvz = seg_uvz.astype(np.float32)
    groups = np.asarray(groups)
    num_frames = seg_uvz.shape[0]
    zbuf = np.full((num_frames, size * size), -np.inf, np.float32)
    index = np.full((num_frames, size * size), -1, np.int32)
    rows = np.arange(num_frames)[:, None]  # flat pixel = (t * size + row) * size + col
    for group in dict.fromkeys(groups.tolist()):  # first-seen order: deterministic
        members = np.flatnonzero(groups == group)
        pts = seg_uvz[:, members, :, :2].reshape(num_frames, -1, 2) * size  # pixels
        lo, hi = pts.min(1), pts.max(1)  # [T, 2] bounding box of the endpoints
        centre = np.floor(0.5 * (lo + hi)).astype(int)
        half = int(np.ceil(0.5 * (hi - lo).max() + radius[members].max() * size + 1))
        if (2 * half + 1) ** 2 >= size * size:  # the window would cover the image anyway
            col = np.tile(np.arange(size), size)[None].repeat(num_frames, 0)
            row = np.repeat(np.arange(size), size)[None].repeat(num_frames, 0)
        else:
            offs = np.arange(-half, half + 1)
            col = centre[:, 0:1] + np.tile(offs, offs.size)[None]
            row = centre[:, 1:2] + np.repeat(offs, offs.size)[None]
        valid = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        wu = ((col + 0.5) / size).astype(np.float32)[:, None]
        wv = ((row + 0.5) / size).astype(np.float32)[:, None]
        w_idx, w_z = _frontmost(seg_uvz[:, members], radius[members], bias[members], wu, wv)
        flat = (rows * size + np.clip(row, 0, size - 1)) * size + np.clip(col, 0, size - 1)
        better = valid & (w_z > np.take(zbuf, flat))
        zbuf.ravel()[flat[better]] = w_z[better]
        index.ravel()[flat[better]] = members[w_idx[better]]
    depth = np.where(index >= 0, zbuf, 0.0)
    return index, depth


def render_maps(fk: dict, body: dict, camera: dict, size: int, num_parts: int):
    """Depth and segmentation maps -> ([T, size*size], [T, size*size]) float32."""
    segs, meta = _segments(fk, body)
    keep = [i for i, m in enumerate(meta) if not m[4]]
    uvz = project(np.stack([segs[i] for i in keep], 1), camera)
    radius = np.array([meta[i][0] for i in keep]) * camera["scale"]
    bias = np.array([meta[i][3] for i in keep])
    index, z = _zbuffer(uvz, radius, bias, [meta[i][5] for i in keep], size)
    parts = np.array([meta[i][1] for i in keep])
    seg = np.where(index >= 0, parts[np.maximum(index, 0)] / num_parts, 0.0)
    back, front = DEPTH_RANGE
    hip = fk["body"]["mid_hip"][:, 2:3]
    depth = np.where(index >= 0, np.clip((z - hip - back) / (front - back), 0.0, 1.0), 0.0)
    return depth.astype(np.float32), seg.astype(np.float32)


def _splat(seg_uvz: np.ndarray, radius: np.ndarray, bias: np.ndarray, size: int) -> np.ndarray:
    """Frontmost segment per pixel by splatting samples of each capsule.

    Cheaper than _zbuffer at RGB resolution: each segment is sampled on a
    grid of _SPLAT_STEP pixels along and across its axis (rejecting samples
    outside the capsule), so the work is proportional to the segment's area,
    not to a window around it. A pixel is covered when a sample falls in it.
    seg_uvz: [T, S, 2, 3]; radius, bias: [S] (image units) -> index [T, size*size], -1 = none.
    """
    num_frames = seg_uvz.shape[0]
    seg_uvz = seg_uvz.astype(np.float32)
    zbuf = np.full(num_frames * size * size, -np.inf, np.float32)
    index = np.full(num_frames * size * size, -1, np.int32)
    base = (np.arange(num_frames, dtype=np.int32) * size * size)[:, None]
    for s in range(seg_uvz.shape[1]):
        a, b = seg_uvz[:, s, 0, :2] * size, seg_uvz[:, s, 1, :2] * size  # [T, 2] pixels
        za, zb = seg_uvz[:, s, 0, 2:3], seg_uvz[:, s, 1, 2:3]
        r = float(radius[s] * size)
        axis = b - a
        length = np.linalg.norm(axis, axis=-1, keepdims=True)  # [T, 1]
        unit = np.where(length > 1e-6, axis / np.maximum(length, 1e-6), np.float32([1, 0]))
        normal = np.stack([-unit[:, 1], unit[:, 0]], -1)
        along = np.arange(-r, float(length.max()) + r + _SPLAT_STEP, _SPLAT_STEP, np.float32)
        across = np.arange(-r, r + _SPLAT_STEP, _SPLAT_STEP, np.float32)
        sa, sb = np.repeat(along, across.size)[None], np.tile(across, along.size)[None]
        clamped = np.clip(sa, 0.0, length)  # [T, K]
        inside = (sa - clamped) ** 2 + sb**2 <= r * r
        px = np.floor(a[:, 0:1] + sa * unit[:, 0:1] + sb * normal[:, 0:1]).astype(np.int32)
        py = np.floor(a[:, 1:2] + sa * unit[:, 1:2] + sb * normal[:, 1:2]).astype(np.int32)
        inside &= (px >= 0) & (px < size) & (py >= 0) & (py < size)
        depth = za + clamped / np.maximum(length, 1e-6) * (zb - za) + bias[s]
        flat = base + np.clip(py, 0, size - 1) * size + np.clip(px, 0, size - 1)
        better = inside & (depth > zbuf[flat])
        zbuf[flat[better]] = depth[better]
        index[flat[better]] = s
    return index.reshape(num_frames, size * size)


def render_rgb(fk: dict, body: dict, camera: dict, size: int, colours: dict) -> np.ndarray:
    """colours: {"background", "skin", "cloth", "sleeve", "hair", "feature": [3] 0..255}
    -> uint8 [T, size, size, 3] (before noise)."""
    segs, meta = _segments(fk, body)
    uvz = project(np.stack(segs, 1), camera)
    radius = np.array([m[0] for m in meta]) * camera["scale"]
    radius = np.maximum(radius, 0.5 / size)  # keep thin parts (fingers) visible
    index = _splat(uvz, radius, np.array([m[3] for m in meta]), size)
    palette = np.array([colours[m[2]] for m in meta] + [colours["background"]], np.float32)
    rgb = palette[np.where(index >= 0, index, len(meta))]
    return rgb.reshape(-1, size, size, 3)
