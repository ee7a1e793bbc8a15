"""A minimal ``tf.train.Example`` protobuf encoder/decoder without TensorFlow.

Pose shards (README "Design") store one serialized ``tf.train.Example`` per
record so plain ``tf.data`` can read them, but importing TensorFlow in every
Grain worker costs seconds and hundreds of MB. The schema is tiny::

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }   # map entry: key = 1, value = 2
    Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                             Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed = true]; }
    Int64List { repeated int64 value = 1 [packed = true]; }

Encoding is deterministic (features sorted by key), so the same record always
gives the same bytes. The decoder also accepts unpacked repeated scalars, which
other protobuf writers may emit.

Python values of a feature: ``bytes`` or a list of ``bytes`` -> BytesList,
float32 ndarray -> FloatList, int64 ndarray -> Int64List. Decoded BytesList
values are ``memoryview`` slices of the input (zero copy).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Any

import numpy as np

FeatureValue = bytes | Sequence[bytes] | np.ndarray

_LEN, _VARINT, _I32, _I64 = 2, 0, 5, 1


class ProtoDecodeError(ValueError):
    """The bytes are not a well-formed tf.train.Example."""


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 -> 10-byte two's complement varint
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | _LEN) + _varint(len(payload)) + payload


def _encode_feature(value: FeatureValue) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return _field(1, _field(1, bytes(value)))
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            packed = np.ascontiguousarray(value, "<f4").reshape(-1).tobytes()
            return _field(2, _field(1, packed) if packed else b"")
        if value.dtype.kind in "iub":
            packed = b"".join(_varint(int(v)) for v in value.reshape(-1))
            return _field(3, _field(1, packed) if packed else b"")
        raise TypeError(f"unsupported array dtype {value.dtype} for a tf.train.Feature")
    return _field(1, b"".join(_field(1, bytes(v)) for v in value))


def encode_example(features: Mapping[str, FeatureValue]) -> bytes:
    """Serialize a ``{name: value}`` mapping as a tf.train.Example (keys sorted)."""
    entries = []
    for key in sorted(features):
        entry = _field(1, key.encode("utf-8")) + _field(2, _encode_feature(features[key]))
        entries.append(_field(1, entry))
    return _field(1, b"".join(entries))


def _read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise ProtoDecodeError(f"truncated or overlong varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> list[tuple[int, int, Any]]:
    """(field_number, wire_type, value_or_(start, end)) of every field of a message.

    A list, not a generator, and one-byte varints (every tag, most lengths)
    read inline: per-field Python overhead was most of the decode time.
    """
    out, pos = [], start
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == _LEN:
            if pos < end and buf[pos] < 0x80:
                size, pos = buf[pos], pos + 1
            else:
                size, pos = _read_varint(buf, pos, end)
            stop = pos + size
        elif wire == _VARINT:
            value, pos = _read_varint(buf, pos, end)
            out.append((number, wire, value))
            continue
        elif wire == _I32 or wire == _I64:
            stop = pos + (4 if wire == _I32 else 8)
        else:
            raise ProtoDecodeError(f"unsupported wire type {wire} at byte {pos}")
        if stop > end:
            raise ProtoDecodeError(f"field {number} runs past the message end")
        out.append((number, wire, (pos, stop)))
        pos = stop
    return out


def _decode_varints(buf: memoryview, start: int, end: int) -> list[int]:
    out, pos = [], start
    while pos < end:
        value, pos = _read_varint(buf, pos, end)
        out.append(value - (1 << 64) if value >= 1 << 63 else value)
    return out


def _decode_feature(buf: memoryview, start: int, end: int) -> FeatureValue:
    result: FeatureValue = []
    for kind, wire, span in _fields(buf, start, end):
        if wire != _LEN:
            continue
        ks, ke = span
        if kind == 1:
            result = [buf[v[0] : v[1]] for n, w, v in _fields(buf, ks, ke) if n == 1 and w == _LEN]
        elif kind == 2:
            parts = []
            for n, w, val in _fields(buf, ks, ke):
                if n == 1 and w in (_LEN, _I32):
                    parts.append(np.frombuffer(buf[val[0] : val[1]], "<f4"))
            result = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            result = result.astype(np.float32)
        elif kind == 3:
            ints: list[int] = []
            for n, w, val in _fields(buf, ks, ke):
                if n == 1 and w == _LEN:
                    ints.extend(_decode_varints(buf, *val))
                elif n == 1 and w == _VARINT:
                    ints.append(val - (1 << 64) if val >= 1 << 63 else val)
            result = np.asarray(ints, np.int64)
    return result


def decode_example(
    data: bytes | memoryview, *, skip: Container[str] = ()
) -> dict[str, FeatureValue]:
    """Parse a serialized tf.train.Example into ``{name: value}`` (see module doc).

    Features named in ``skip`` are left out unparsed (e.g. the per-frame PNG
    list of a clip when only its poses are wanted).
    """
    buf = memoryview(data)
    out: dict[str, FeatureValue] = {}
    for n, w, features in _fields(buf, 0, len(buf)):
        if n != 1 or w != _LEN:
            continue
        for m, mw, entry in _fields(buf, *features):
            if m != 1 or mw != _LEN:
                continue
            key, value = None, None
            for k, kw, span in _fields(buf, *entry):
                if k == 1 and kw == _LEN:
                    key = str(buf[span[0] : span[1]], "utf-8")
                elif k == 2 and kw == _LEN:
                    value = span
            if key is None:
                raise ProtoDecodeError("feature map entry without a key")
            if key not in skip:
                out[key] = [] if value is None else _decode_feature(buf, *value)
    return out
