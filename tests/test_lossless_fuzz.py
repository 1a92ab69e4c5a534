"""Malformed archives: every damage is refused with a ContainerError naming where, never a traceback."""

import struct

import numpy as np
import pytest

from spikesci.errors import ContainerError
from spikesci.lossless import pack_spikes, unpack, unpack_spikes
from spikesci.lossless.coder import decode_chunk, encode_chunk
from spikesci.lossless.model import ModelSpec


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(5)
    a = (rng.random((7, 6, 5)) < 0.3).astype(np.uint8)
    b = (rng.random((7, 6, 5)) < 0.3).astype(np.uint8)
    pack_spikes(a, d / "a.spkz", chunk_frames=3)
    pack_spikes(b, d / "b.spkz", chunk_frames=3)
    return d, a, (d / "a.spkz").read_bytes(), (d / "b.spkz").read_bytes()


def _check(path, blob, original):
    """Decoding damaged bytes either refuses with ContainerError or (damage in an unused field) is exact."""
    path.write_bytes(blob)
    try:
        out = unpack_spikes(path)
    except ContainerError as exc:
        assert str(exc)
        return "refused"
    assert np.array_equal(out, original)
    return "exact"


def test_every_truncation(archives):
    d, a, blob, _ = archives
    for n in range(len(blob)):
        assert _check(d / "t.spkz", blob[:n], a) == "refused"


def test_bit_flips(archives):
    d, a, blob, _ = archives
    rng = np.random.default_rng(0)
    outcomes = []
    for _ in range(2000):
        damaged = bytearray(blob)
        pos = int(rng.integers(len(blob)))
        damaged[pos] ^= 1 << int(rng.integers(8))
        outcomes.append(_check(d / "f.spkz", bytes(damaged), a))
    assert outcomes.count("refused") > 1900


def test_chunk_damage_names_the_chunk(archives):
    d, a, blob, _ = archives
    damaged = bytearray(blob)
    damaged[-40] ^= 0x10  # inside the last chunk's payload, before the index
    (d / "c.spkz").write_bytes(bytes(damaged))
    with pytest.raises(ContainerError, match="chunk"):
        unpack_spikes(d / "c.spkz")


def test_splices(archives):
    d, a, blob_a, blob_b = archives
    for cut in range(20, len(blob_a) - 1, 3):
        for other in (blob_b[cut:], blob_b[cut + 1 :], blob_a[cut + 5 :]):
            assert _check(d / "s.spkz", blob_a[:cut] + other, a) in ("refused", "exact")
    assert _check(d / "s.spkz", blob_a + b"junk", a) == "refused"


def test_wrong_output_never_written(archives, tmp_path):
    d, a, blob, _ = archives
    damaged = bytearray(blob)
    damaged[-40] ^= 0x01
    (tmp_path / "x.spkz").write_bytes(bytes(damaged))
    with pytest.raises(ContainerError):
        unpack(tmp_path / "x.spkz", tmp_path / "out.dat")
    assert list(tmp_path.iterdir()) == [tmp_path / "x.spkz"]


def test_decoder_survives_garbage_payloads():
    """Payloads whose CRC would pass but whose bits are wrong: decode to something or refuse, never crash."""
    rng = np.random.default_rng(1)
    spec = ModelSpec("ctx")
    good = encode_chunk((rng.random((4, 6, 7)) < 0.3).astype(np.uint8), spec)
    for i in range(600):
        kind = i % 3
        if kind == 0:
            payload = bytearray(good)
            payload[int(rng.integers(9, len(good)))] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            n = int(rng.integers(0, 40))
            payload = bytearray(struct.pack("<IBI", 4, 0, n // 4) + rng.bytes(n))
        else:
            payload = bytearray(rng.bytes(int(rng.integers(0, 30))))
        try:
            out, _ = decode_chunk(bytes(payload), 6, 7, spec, 4)
        except ContainerError:
            continue
        assert out.shape == (4, 6, 7) and set(np.unique(out)) <= {0, 1}
