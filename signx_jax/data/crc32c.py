"""CRC-32C (Castagnoli) for TFRecord framing (pose shards, README "Design").

TFRecord protects every length and payload with a *masked* CRC-32C. We use the
C implementation of ``google-crc32c`` when it is installed (GB/s, releases the
GIL) and otherwise a numpy fallback that stays usable (tens of MB/s) instead of
a byte-at-a-time Python loop (~1 MB/s, which would make the pipeline CRC bound).

The fallback works on the *raw* CRC (initial value 0, no final xor), which is
linear over GF(2):

* raw(A || B) = shift_{|B|}(raw(A)) ^ raw(B), where shift_n appends n zero bytes;
* leading zero bytes do not change raw(), so the input is zero padded at the
  front to a whole number of equal blocks, whose raw CRCs are computed in
  parallel (numpy over blocks, a loop over the bytes of one block) and then
  combined pairwise in a tree with precomputed shift tables;
* the standard pre-conditioning (initial value 0xFFFFFFFF) equals xoring 0xFF
  into the first four data bytes, and the post-conditioning is a final xor.
"""

from __future__ import annotations

import functools

import numpy as np

try:  # The C extension is optional; see the module docstring.
    import google_crc32c as _gcrc
except ImportError:  # pragma: no cover - exercised only without the package
    _gcrc = None

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8  # TFRecord's mask constant
_BLOCK = 256  # bytes per parallel block in the numpy fallback


def _make_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1)
    return table.astype(np.uint32)


_TABLE = _make_table()
_TABLE_LIST = [int(v) for v in _TABLE]


def _raw_bytes_python(crc: int, data: bytes) -> int:
    for b in data:
        crc = _TABLE_LIST[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def _apply_shift(tables: np.ndarray, crc: np.ndarray) -> np.ndarray:
    """Apply a linear 32-bit map given as 4 byte tables [4, 256] to crc [K]."""
    return (
        tables[0][crc & 0xFF]
        ^ tables[1][(crc >> 8) & 0xFF]
        ^ tables[2][(crc >> 16) & 0xFF]
        ^ tables[3][crc >> 24]
    )


@functools.lru_cache(maxsize=64)
def _shift_tables(num_bytes: int) -> np.ndarray:
    """Byte tables [4, 256] of shift_{num_bytes}: raw CRC after num_bytes zeros."""
    if num_bytes == _BLOCK:
        byte_values = np.arange(256, dtype=np.uint32)[None, :]
        crc = (byte_values << (8 * np.arange(4, dtype=np.uint32))[:, None]).reshape(-1)
        for _ in range(num_bytes):
            crc = _TABLE[crc & 0xFF] ^ (crc >> 8)
        return crc.reshape(4, 256)
    # num_bytes = 2 * half: compose the half shift with itself.
    half = _shift_tables(num_bytes // 2)
    return _apply_shift(half, half.reshape(-1)).reshape(4, 256)


def _crc32c_numpy(data: bytes) -> int:
    n = len(data)
    if n < 4 * _BLOCK:
        return _raw_bytes_python(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    num_blocks = 1 << int(np.ceil(np.log2(-(-n // _BLOCK))))  # power of two for the tree
    buf = np.zeros(num_blocks * _BLOCK, np.uint8)
    start = buf.size - n
    buf[start:] = np.frombuffer(data, np.uint8)
    buf[start : start + 4] ^= 0xFF  # pre-conditioning, see module docstring
    blocks = buf.reshape(num_blocks, _BLOCK)
    crc = np.zeros(num_blocks, np.uint32)
    for j in range(_BLOCK):
        crc = _TABLE[(crc ^ blocks[:, j]) & 0xFF] ^ (crc >> 8)
    width = _BLOCK
    while crc.size > 1:
        crc = _apply_shift(_shift_tables(width), crc[0::2]) ^ crc[1::2]
        width *= 2
    return int(crc[0]) ^ 0xFFFFFFFF


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` as an unsigned 32-bit int (crc32c(b"123456789") = 0xE3069283)."""
    if _gcrc is not None:
        # The C extension rejects memoryviews but takes a numpy view of one (no copy).
        return _gcrc.value(np.frombuffer(data, np.uint8) if isinstance(data, memoryview) else data)
    return _crc32c_numpy(bytes(data))


def masked_crc32c(data: bytes | bytearray | memoryview, *, use_numpy: bool = False) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant."""
    crc = _crc32c_numpy(bytes(data)) if use_numpy else crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def implementation() -> str:
    """'google-crc32c' or 'numpy' (for the benchmark report)."""
    return "google-crc32c" if _gcrc is not None else "numpy"
