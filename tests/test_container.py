"""Chunk container: round trip, and every kind of damage raises ContainerError (never another exception)."""

import struct

import pytest

from spikesci.errors import ContainerError
from spikesci.io.container import ContainerReader, ContainerWriter

MAGIC = b"TST1"
PAYLOADS = [b"first chunk", bytes(range(40)), b"", b"last" * 7]


def _write(path, payloads=PAYLOADS, version=1, header=None, magic=MAGIC):
    with ContainerWriter(path, magic, version, header or {"frames": 3, "name": "t"}) as writer:
        for p in payloads:
            writer.write_chunk(p)
    return path


def _read_all(path, versions=(1,)):
    with ContainerReader(path, MAGIC, versions, kind="test file") as reader:
        by_index = [reader.read_chunk(i) for i in range(reader.num_chunks)]
        return reader.header, by_index, list(reader.iter_chunks())


def test_round_trip(tmp_path):
    path = _write(tmp_path / "a.tst")
    header, chunks, streamed = _read_all(path)
    assert chunks == PAYLOADS and streamed == PAYLOADS
    assert header["frames"] == 3 and header["name"] == "t" and "stream_id" in header
    assert not (tmp_path / "a.tst.part").exists()
    empty = _write(tmp_path / "empty.tst", payloads=[])
    assert _read_all(empty)[1] == []


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "x.tst"
    with pytest.raises(RuntimeError):
        with ContainerWriter(path, MAGIC, 1, {}) as writer:
            writer.write_chunk(b"abc")
            assert (tmp_path / "x.tst.part").exists() and not path.exists()
            raise RuntimeError("interrupted")
    assert not path.exists() and not (tmp_path / "x.tst.part").exists()


def _damaged(path, data: bytes):
    path.write_bytes(data)
    with pytest.raises(ContainerError):
        _read_all(path)


def test_truncation_at_every_length(tmp_path):
    data = _write(tmp_path / "a.tst").read_bytes()
    for n in range(len(data)):
        _damaged(tmp_path / "cut.tst", data[:n])


def test_every_bit_flip_is_caught(tmp_path):
    data = bytearray(_write(tmp_path / "a.tst").read_bytes())
    reserved = range(6, 8)  # the preamble's reserved u16 carries no information
    missed = []
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            (tmp_path / "flip.tst").write_bytes(flipped)
            try:
                _read_all(tmp_path / "flip.tst")
            except ContainerError:
                continue
            if i not in reserved:
                missed.append((i, bit))
    assert not missed, f"bit flips not detected at (byte, bit): {missed[:10]}"


def test_spliced_chunk_from_another_file_is_refused(tmp_path):
    a = _write(tmp_path / "a.tst").read_bytes()
    b = _write(tmp_path / "b.tst").read_bytes()  # same header and payloads, other stream id
    assert a != b and len(a) == len(b)
    start = a.index(b"CHNK", a.index(b"CHNK") + 1)  # chunk 1 of each file sits at the same offset
    end = start + 16 + len(PAYLOADS[1])
    _damaged(tmp_path / "spliced.tst", a[:start] + b[start:end] + a[end:])
    # two equal-length chunks swapped within one file: the CRC covers the chunk's index too
    c = _write(tmp_path / "c.tst", payloads=[b"AAAA", b"BBBB"]).read_bytes()
    first = c.index(b"CHNK")
    second = first + 20
    swapped = c[:first] + c[second : second + 20] + c[first:second] + c[second + 20 :]
    _damaged(tmp_path / "swapped.tst", swapped)
    # a header from another file in front of this file's chunks
    hdr_end = a.index(b"CHNK")
    _damaged(tmp_path / "header.tst", b[:hdr_end] + a[hdr_end:])


def test_unknown_version_wrong_magic_and_not_a_container(tmp_path):
    path = _write(tmp_path / "v2.tst", version=2)
    with pytest.raises(ContainerError, match="version 2"):
        _read_all(path, versions=(1,))
    assert _read_all(path, versions=(1, 2))[1] == PAYLOADS
    other = _write(tmp_path / "other.tst", magic=b"OTHR")
    with pytest.raises(ContainerError, match="not a test file"):
        _read_all(other)
    _damaged(tmp_path / "empty.tst", b"")
    _damaged(tmp_path / "text.tst", b"hello, I am plainly a text file and nothing else\n" * 3)
    with pytest.raises(ContainerError, match="no such file"):
        _read_all(tmp_path / "missing.tst")
    with pytest.raises(ContainerError):
        _read_all(tmp_path)  # a folder


def test_header_that_is_valid_json_but_not_ours(tmp_path):
    import zlib

    for blob in (b"[1, 2]", b'"text"', b'{"stream_id": 5}', b'{"stream_id": "zz"}', b"{not json"):
        data = struct.pack("<4sHHII", MAGIC, 1, 0, len(blob), zlib.crc32(blob)) + blob
        _damaged(tmp_path / "h.tst", data)


def test_chunk_out_of_range(tmp_path):
    with ContainerReader(_write(tmp_path / "a.tst"), MAGIC, (1,)) as reader:
        with pytest.raises(ContainerError, match="does not exist"):
            reader.read_chunk(len(PAYLOADS))
        with pytest.raises(ContainerError):
            reader.read_chunk(-1)


def test_deflated_header_round_trips_smaller_and_refuses_garbage(tmp_path):
    header = {"frames": 3, "sha": "ab" * 32, "list": list(range(40))}
    plain = _write(tmp_path / "p.tst", header=header)
    with ContainerWriter(tmp_path / "d.tst", MAGIC, 1, header, deflate_header=True) as writer:
        for p in PAYLOADS:
            writer.write_chunk(p)
    got, chunks, _ = _read_all(tmp_path / "d.tst")
    assert chunks == PAYLOADS and {k: got[k] for k in header} == header
    assert (tmp_path / "d.tst").stat().st_size < plain.stat().st_size - 100
    # a header flagged as deflated that does not inflate (its CRC made right): one ContainerError
    blob = b"\xff not deflate"
    pre = struct.pack("<4sHHII", MAGIC, 1, 1, len(blob), __import__("zlib").crc32(blob))
    _damaged(tmp_path / "bad.tst", pre + blob)
