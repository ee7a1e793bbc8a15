"""Our PNG frames are standard PNGs and decode bit-exactly on every path."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from signx_jax.data import png


def _frame(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("shape", [(16, 16, 3), (1, 1, 3), (5, 9, 3)])
def test_roundtrip_and_pillow_agrees(shape):
    frame = _frame(shape)
    data = png.encode_png(frame)
    np.testing.assert_array_equal(png.decode_png(data), frame)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), frame)


def test_decodes_pngs_written_by_pillow():
    frame = _frame((12, 10, 3), seed=1)
    for level in (0, 1, 9):  # Pillow picks its own (adaptive) filters
        out = io.BytesIO()
        Image.fromarray(frame).save(out, format="PNG", compress_level=level)
        np.testing.assert_array_equal(png.decode_png(out.getvalue()), frame)
    grey = io.BytesIO()
    Image.fromarray(frame[..., 0]).save(grey, format="PNG")  # non-RGB -> Pillow path
    np.testing.assert_array_equal(png.decode_png(grey.getvalue())[..., 1], frame[..., 0])


@pytest.mark.parametrize("filter_type", [0, 1, 2])
def test_none_sub_and_up_filter_fast_paths(filter_type):
    frame = _frame((4, 6, 3), seed=2)
    rows = frame.astype(np.int16)
    if filter_type == 1:  # Sub: difference to the pixel on the left, per channel
        rows = np.diff(rows, axis=1, prepend=0)
    elif filter_type == 2:  # Up: difference to the row above
        rows = np.diff(rows.reshape(4, 18), axis=0, prepend=0).reshape(4, 6, 3)
    raw = np.concatenate(
        [np.full((4, 1), filter_type, np.uint8), (rows % 256).astype(np.uint8).reshape(4, 18)],
        axis=1,
    )
    ihdr = np.array([0, 0, 0, 6, 0, 0, 0, 4, 8, 2, 0, 0, 0], np.uint8).tobytes()
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png._chunk(b"IHDR", ihdr)
        + png._chunk(b"IDAT", zlib.compress(raw.tobytes()))
        + png._chunk(b"IEND", b"")
    )
    np.testing.assert_array_equal(png.decode_png(data), frame)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), frame)


def test_small_frames_are_stored_and_large_ones_compressed():
    def smooth(size):  # compresses well: a deflated frame would be far smaller than raw
        ramp = np.arange(size, dtype=np.uint8)[:, None, None]
        return np.ascontiguousarray(np.broadcast_to(ramp, (size, size, 3)))

    small = smooth(64)
    assert len(png.encode_png(small)) > small.nbytes  # stored: raw bytes + headers
    np.testing.assert_array_equal(png.decode_png(png.encode_png(small)), small)
    large = smooth(128)
    big = png.encode_png(large)
    assert len(big) < large.nbytes // 10
    np.testing.assert_array_equal(png.decode_png(big), large)


def test_rejects_non_png_and_bad_frames():
    with pytest.raises(ValueError, match="not a PNG"):
        png.decode_png(b"GIF89a....")
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        png.encode_png(np.zeros((4, 4), np.uint8))
