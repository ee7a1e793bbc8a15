"""TFRecord's masked CRC-32C and the TensorFlow-free tf.train.Example codec."""

import numpy as np
import pytest

from signx_jax.data import example_proto, tfrecord


def _reference_crc32c(data: bytes) -> int:
    """Bit-at-a-time CRC-32C straight from the definition."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_masked_crc32c_matches_the_definition():
    assert tfrecord.masked_crc32c(b"") == 0xA282EAD8  # CRC of nothing is 0
    for n in (1, 9, 1025):
        data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
        raw = _reference_crc32c(data)
        expected = (((raw >> 15) | (raw << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        assert tfrecord.masked_crc32c(data) == expected
        assert tfrecord.masked_crc32c(memoryview(data)) == expected
    assert _reference_crc32c(b"123456789") == 0xE3069283  # the standard check value


def test_example_roundtrip_all_kinds():
    features = {
        "text": "über".encode(),
        "many": [b"a", b"", b"\x00\xff" * 300],
        "floats": np.array([1.5, -2.25, 3e-8], np.float32),
        "ints": np.array([0, 1, -1, 2**40, -(2**63)], np.int64),
        "empty_floats": np.zeros(0, np.float32),
    }
    out = example_proto.decode_example(example_proto.encode_example(features))
    assert sorted(out) == sorted(features)
    assert bytes(out["text"][0]).decode() == "über"
    assert [bytes(v) for v in out["many"]] == features["many"]
    np.testing.assert_array_equal(out["floats"], features["floats"])
    np.testing.assert_array_equal(out["ints"], features["ints"])
    assert out["empty_floats"].size == 0


def test_encoding_is_deterministic_in_key_order():
    a = example_proto.encode_example({"b": b"1", "a": np.array([2], np.int64)})
    b = example_proto.encode_example({"a": np.array([2], np.int64), "b": b"1"})
    assert a == b


def test_decoder_accepts_unpacked_scalars():
    # Feature{float_list{value: 1.0 value: 2.0}} written unpacked (wire type 5).
    floats = b"\x0d" + np.float32(1).tobytes() + b"\x0d" + np.float32(2).tobytes()
    ints = b"\x08\x05\x08\x07"  # Int64List{value: 5 value: 7} unpacked varints
    f = example_proto._field
    entry_f = f(1, b"x") + f(2, f(2, floats))
    entry_i = f(1, b"y") + f(2, f(3, ints))
    out = example_proto.decode_example(f(1, f(1, entry_f) + f(1, entry_i)))
    np.testing.assert_array_equal(out["x"], [1.0, 2.0])
    np.testing.assert_array_equal(out["y"], [5, 7])


def test_decoder_rejects_truncated_message():
    data = example_proto.encode_example({"a": b"hello world"})
    with pytest.raises(example_proto.ProtoDecodeError):
        example_proto.decode_example(data[:-3])
