"""Fast PNG encode/decode of small RGB frames (paper section 3.3: Video2Pose reads RGB).

Pose shards store RGB clips as one PNG per frame, readable by any PNG decoder
(``tf.io.decode_png``, Pillow). Pillow costs ~0.25 ms per tiny frame in fixed
overhead, i.e. ~0.5 s for a 32 x 64-frame batch; Video2Pose would be input
bound. We write standard 8-bit RGB PNGs with no row filter (type 0), so
decoding is ``zlib.decompress`` plus a reshape. Frames of up to
``STORE_MAX_BYTES`` raw bytes (64 x 64 RGB) are written as stored (level-0)
deflate blocks: on the synthetic corpus's 64 x 64 frames inflating a level-6
frame took 48 us against 6 us for a stored one (88 us with the "Up" filter
this module wrote before), for half the bytes (6.2 vs 12.4 KB); a Video2Pose
batch of 8 x 32 such frames then decodes in ~2 ms instead of ~23 ms, time the
2-core machine's train step otherwise loses (one timing loop over one clip's
frames, not a shipped benchmark; README "Benchmarks and scaling"). Larger frames (converted real
datasets) compress at level 6. PNGs with Sub or Up filters decode on fast
paths too; others (written by other tools) go through Pillow.

Chunk CRCs are not re-checked on decode: the TFRecord frame CRC already covers
every byte of the record.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_NONE, _FILTER_SUB, _FILTER_UP = 0, 1, 2
_ZLIB_LEVEL = 6  # frames larger than STORE_MAX_BYTES
STORE_MAX_BYTES = 64 * 64 * 3  # frames up to this size are stored uncompressed (see above)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(frame: np.ndarray) -> bytes:
    """uint8 [H, W, 3] -> PNG bytes (8-bit RGB, no row filter; see the module doc)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] frame, got {frame.dtype} {frame.shape}")
    height, width, _ = frame.shape
    rows = frame.reshape(height, width * 3)
    raw = np.concatenate([np.full((height, 1), _FILTER_NONE, np.uint8), rows], axis=1)
    level = 0 if frame.nbytes <= STORE_MAX_BYTES else _ZLIB_LEVEL
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def _decode_with_pillow(data) -> np.ndarray:
    from PIL import Image  # lazy: only for PNGs not written by encode_png

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def decode_png(data: bytes | memoryview) -> np.ndarray:
    """PNG bytes -> uint8 [H, W, 3] (fast path for 8-bit RGB, None/Sub/Up filters)."""
    view = memoryview(data)
    if bytes(view[:8]) != _SIGNATURE:
        raise ValueError("not a PNG (bad signature)")
    pos, header, idat = 8, None, []
    while pos + 8 <= len(view):
        (length,) = struct.unpack_from(">I", view, pos)
        kind = bytes(view[pos + 4 : pos + 8])
        body = view[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    if (depth, color, interlace) != (8, 2, 0):
        return _decode_with_pillow(data)
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    if raw.size != height * (1 + 3 * width):
        raise ValueError(
            f"PNG pixel data has {raw.size} bytes, expected {height * (1 + 3 * width)}"
        )
    raw = raw.reshape(height, 1 + 3 * width)
    filters, rows = raw[:, 0], raw[:, 1:]
    if (filters == _FILTER_UP).all():  # shards written before the unfiltered format
        rows = np.cumsum(rows, axis=0, dtype=np.uint8)
    elif (filters == _FILTER_SUB).all():
        rows = np.cumsum(rows.reshape(height, width, 3), axis=1, dtype=np.uint8)
    elif not (filters == _FILTER_NONE).all():
        return _decode_with_pillow(data)  # Average / Paeth / mixed filters
    return np.ascontiguousarray(rows.reshape(height, width, 3))
