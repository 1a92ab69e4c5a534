"""Format 2: old archives, workers, bands, random access at chunk borders, pipes in and out."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from test_lossless_archive import _moving

from spikesci.errors import ContainerError, SpikeFileError
from spikesci.io import read_dat, write_dat
from spikesci.lossless import (
    archive_info,
    pack,
    pack_spikes,
    unpack,
    unpack_spikes,
)
from spikesci.lossless.format import Archive

FIXTURES = Path(__file__).parent / "fixtures"


def _payloads(path) -> tuple[dict, list[bytes]]:
    with Archive(path) as arc:
        header = {k: v for k, v in arc.reader.header.items() if k != "stream_id"}
        return header, [arc.reader.read_chunk(i) for i in range(arc.reader.num_chunks)]


@pytest.mark.parametrize("name", ["spkz_v1_ctx", "spkz_v1_simple"])
def test_format1_archive_still_unpacks(tmp_path, name):
    """Archives written by the format-1 code (committed fixtures) decode to the original bytes."""
    src = FIXTURES / f"{name}.spkz"
    assert archive_info(src)["format_version"] == 1
    unpack(src, tmp_path / "out.dat")
    assert (tmp_path / "out.dat").read_bytes() == (FIXTURES / f"{name}.dat").read_bytes()
    with Archive(src) as arc:
        full = unpack_spikes(src)
        assert np.array_equal(unpack_spikes(src, frames=(15, 17)), full[15:17])
        assert arc.bands == 1


def test_one_and_two_workers_write_the_same_archive(tmp_path):
    """Same header (but the random stream id) and the same chunk payloads, whatever the workers."""
    spikes = _moving(45, 20, 24, seed=4)
    pack_spikes(spikes, tmp_path / "one.spkz", chunk_frames=10, bands=2, workers=1)
    pack_spikes(spikes, tmp_path / "two.spkz", chunk_frames=10, bands=2, workers=2)
    one, two = _payloads(tmp_path / "one.spkz"), _payloads(tmp_path / "two.spkz")
    assert one == two and len(one[1]) == 10
    for workers in (1, 2):
        assert np.array_equal(unpack_spikes(tmp_path / "two.spkz", workers=workers), spikes)


@pytest.mark.parametrize("bands", [1, 2, 3])
def test_random_access_at_chunk_borders(tmp_path, bands):
    spikes = _moving(47, 13, 9, seed=5)
    arc = tmp_path / "r.spkz"
    pack_spikes(spikes, arc, chunk_frames=10, bands=bands)
    assert archive_info(arc)["chunks"] == 5 * bands
    for a, b in [
        (0, 10),
        (9, 11),
        (10, 20),
        (19, 21),
        (10, 11),
        (39, 40),
        (40, 47),
        (46, 47),
        (0, 47),
        (5, 5),
    ]:
        got = unpack_spikes(arc, frames=(a, b), workers=1 + (a % 2))
        assert np.array_equal(got, spikes[a:b]), (a, b)


def test_bands_follow_frame_size(tmp_path):
    pack_spikes(_moving(3, 250, 400), tmp_path / "big.spkz")
    assert archive_info(tmp_path / "big.spkz")["bands"] == 2
    pack_spikes(_moving(3, 4, 5), tmp_path / "small.spkz")
    assert archive_info(tmp_path / "small.spkz")["bands"] == 1
    with pytest.raises(SpikeFileError, match="bands"):
        pack_spikes(_moving(3, 2, 5), tmp_path / "x.spkz", bands=3)


def _dat_bytes(spikes, pad_every=0) -> bytes:
    buf = io.BytesIO()
    from spikesci.io.dat import pack_frames

    raw = pack_frames(spikes)
    if pad_every:
        raw[::pad_every, -1] |= 0x80  # a padding bit (H*W not a multiple of 8)
    buf.write(raw.tobytes())
    return buf.getvalue()


class _Pipe(io.RawIOBase):
    """A pipe that hands out at most 1000 bytes a read and remembers the largest request."""

    def __init__(self, data: bytes):
        self.data, self.pos, self.largest = data, 0, 0

    def read(self, n=-1):
        self.largest = max(self.largest, n)
        block = self.data[self.pos : self.pos + min(n, 1000)]
        self.pos += len(block)
        return block


def test_pack_from_a_pipe_in_bounded_reads(tmp_path):
    spikes = _moving(53, 11, 13, seed=6)  # 143 pixels: padding bits in the last byte
    data = _dat_bytes(spikes, pad_every=4)
    pipe = _Pipe(data)
    stats = pack(pipe, tmp_path / "s.spkz", height=11, width=13, chunk_frames=8)
    assert stats["frames"] == 53 and pipe.largest <= 8 * 18  # one chunk of frames a read
    with Archive(tmp_path / "s.spkz") as arc:
        assert arc.reader.header["frames"] is None and arc.frames == 53 and arc.source == "stream"
    out = io.BytesIO()
    unpack(tmp_path / "s.spkz", out)
    assert out.getvalue() == data
    assert np.array_equal(unpack_spikes(tmp_path / "s.spkz", frames=(47, 53)), spikes[47:])


@pytest.mark.parametrize("frames", [0, 8, 16])
def test_pipe_of_whole_chunks_or_nothing(tmp_path, frames):
    spikes = _moving(frames, 6, 8)
    pack(io.BytesIO(_dat_bytes(spikes)), tmp_path / "s.spkz", height=6, width=8, chunk_frames=8)
    assert np.array_equal(unpack_spikes(tmp_path / "s.spkz"), spikes)


def test_pipe_ending_inside_a_frame_is_refused(tmp_path):
    data = _dat_bytes(_moving(5, 6, 8))[:-2]
    with pytest.raises(SpikeFileError, match="ended 4 bytes into a frame"):
        pack(io.BytesIO(data), tmp_path / "s.spkz", height=6, width=8)
    assert not (tmp_path / "s.spkz").exists() and not list(tmp_path.iterdir())


def test_unpack_range_to_a_pipe(tmp_path):
    spikes = _moving(30, 10, 16)
    write_dat(tmp_path / "a.dat", spikes)
    pack(tmp_path / "a.dat", tmp_path / "a.spkz", height=10, width=16, chunk_frames=7)
    out = io.BytesIO()
    stats = unpack(tmp_path / "a.spkz", out, frames=(6, 15))
    fb = 10 * 16 // 8
    assert out.getvalue() == (tmp_path / "a.dat").read_bytes()[6 * fb : 15 * fb]
    assert stats["frame_range"] == [6, 15] and json.dumps(stats)


def test_truncated_streamed_archive_refused(tmp_path):
    spikes = _moving(20, 6, 8)
    pack(io.BytesIO(_dat_bytes(spikes)), tmp_path / "s.spkz", height=6, width=8, chunk_frames=8)
    blob = (tmp_path / "s.spkz").read_bytes()
    for cut in range(0, len(blob), 7):
        (tmp_path / "t.spkz").write_bytes(blob[:cut])
        with pytest.raises(ContainerError):
            unpack_spikes(tmp_path / "t.spkz")


def test_dat_with_bands_byte_for_byte(tmp_path):
    spikes = _moving(12, 9, 7, seed=8)  # 63 pixels: padding
    src = tmp_path / "a.dat"
    raw = bytearray(_dat_bytes(spikes, pad_every=3))
    src.write_bytes(bytes(raw))
    pack(src, tmp_path / "a.spkz", height=9, width=7, chunk_frames=5, bands=3)
    unpack(tmp_path / "a.spkz", tmp_path / "b.dat", frames=(4, 11))
    assert (tmp_path / "b.dat").read_bytes() == bytes(raw[4 * 8 : 11 * 8])
    assert np.array_equal(read_dat(tmp_path / "b.dat", 9, 7), spikes[4:11])


def test_format2_archive_still_unpacks(tmp_path):
    """An archive written by the format-2 code (model ctx v2, 2 bands, non-zero .dat padding bits)
    decodes to the original bytes, whole and in ranges."""
    src, dat = FIXTURES / "spkz_v2_ctx.spkz", (FIXTURES / "spkz_v2_ctx.dat").read_bytes()
    info = archive_info(src)
    assert (info["format_version"], info["model"], info["bands"]) == (2, "ctx", 2)
    unpack(src, tmp_path / "out.dat")
    assert (tmp_path / "out.dat").read_bytes() == dat
    fb = (17 * 23 + 7) // 8
    buf = io.BytesIO()
    unpack(src, buf, frames=(7, 17))
    assert buf.getvalue() == dat[7 * fb : 17 * fb]
