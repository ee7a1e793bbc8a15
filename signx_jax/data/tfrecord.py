"""TFRecord framing and the sidecar offset index (pose shards, README "Design").

A TFRecord file is a sequence of frames::

    uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

(all little endian). TFRecord has no random access, so next to every shard we
write ``<shard>.index``: an 8-byte magic, a uint64 record count, then one
``(offset, payload length, num_frames)`` uint64 triple per record (frame counts
let the train pipeline group clips by length without decoding them). Grain reads record ``i`` with a
single ``os.pread`` (thread safe, no shared file position).

CRC-32C comes from the C extension ``google-crc32c`` (GB/s, releases the GIL);
a pure-Python CRC would make the input pipeline CRC bound.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import google_crc32c
import numpy as np

HEADER_BYTES = 12  # uint64 length + uint32 length crc
FOOTER_BYTES = 4  # uint32 data crc
INDEX_MAGIC = b"SXIDX001"
INDEX_SUFFIX = ".index"
_INDEX_ROW = 24  # bytes per record: uint64 offset, payload length, frame count
_MASK_DELTA = 0xA282EAD8  # TFRecord's CRC mask constant


def masked_crc32c(data: bytes | memoryview) -> int:
    """TFRecord's masked CRC-32C: the CRC rotated right by 15 bits plus a constant."""
    # The C extension rejects memoryviews but takes a numpy view of one (no copy).
    if isinstance(data, memoryview):
        data = np.frombuffer(data, np.uint8)
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordError(ValueError):
    """A frame failed its framing or CRC check (message says where and why)."""

    def __init__(self, message: str, *, offset: int):
        super().__init__(message)
        self.offset = offset


def frame(data: bytes) -> bytes:
    """One TFRecord frame around ``data``."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def check_frame(buf: bytes | memoryview, offset: int, expected_length: int | None) -> memoryview:
    """Validate one frame read from ``offset``; return its payload (zero copy).

    ``buf`` holds the bytes read from the file starting at ``offset`` (at least
    the frame, possibly more). Raises TFRecordError naming what is wrong.
    """
    view = memoryview(buf)
    if len(view) < HEADER_BYTES:
        raise TFRecordError(
            f"truncated frame header ({len(view)} of {HEADER_BYTES} bytes)", offset=offset
        )
    (length,) = struct.unpack_from("<Q", view, 0)
    (length_crc,) = struct.unpack_from("<I", view, 8)
    if masked_crc32c(view[:8]) != length_crc:
        raise TFRecordError("length CRC mismatch (not a TFRecord or corrupt)", offset=offset)
    if expected_length is not None and length != expected_length:
        raise TFRecordError(
            f"frame length {length} differs from the index ({expected_length})", offset=offset
        )
    end = HEADER_BYTES + length + FOOTER_BYTES
    if len(view) < end:
        raise TFRecordError(f"truncated frame ({len(view)} of {end} bytes)", offset=offset)
    data = view[HEADER_BYTES : HEADER_BYTES + length]
    (data_crc,) = struct.unpack_from("<I", view, HEADER_BYTES + length)
    if masked_crc32c(data) != data_crc:
        raise TFRecordError("payload CRC mismatch", offset=offset)
    return data


def read_frame(fd: int, offset: int, length: int) -> memoryview:
    """Read and validate the frame of ``length`` payload bytes at ``offset``."""
    buf = os.pread(fd, HEADER_BYTES + length + FOOTER_BYTES, offset)
    return check_frame(buf, offset, length)


def iter_frames(path: str) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(offset, payload)`` of every frame of a file, validating CRCs."""
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        payload = check_frame(memoryview(data)[offset:], offset, None)
        yield offset, payload
        offset += HEADER_BYTES + len(payload) + FOOTER_BYTES


def encode_index(offsets: list[int], lengths: list[int], num_frames: list[int]) -> bytes:
    """Sidecar index bytes: magic, count, then (offset, length, num_frames) per record."""
    rows = np.stack([np.asarray(x, np.int64) for x in (offsets, lengths, num_frames)], axis=1)
    return INDEX_MAGIC + struct.pack("<Q", len(offsets)) + rows.astype("<u8").tobytes()


def read_index(path: str) -> np.ndarray:
    """``(offset, payload length, num_frames)`` rows [N, 3] int64 of a shard's index."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != INDEX_MAGIC or len(data) < 16:
        raise ValueError(f"{path}: not a signx-jax shard index (bad magic {data[:8]!r})")
    (count,) = struct.unpack_from("<Q", data, 8)
    if len(data) != 16 + _INDEX_ROW * count:
        raise ValueError(
            f"{path}: index holds {len(data) - 16} bytes, expected {_INDEX_ROW * count} "
            f"for {count} records"
        )
    return np.frombuffer(data, "<u8", offset=16).reshape(count, 3).astype(np.int64)
