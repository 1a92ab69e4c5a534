"""PKU `.dat` I/O: SpikeCV byte layout, round trips, refusal of malformed files, memory-mapped range reads."""

import os
import resource
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesci.errors import SpikeFileError
from spikesci.io import dat_frame_bytes, dat_num_frames, read_dat, read_spikes, write_dat, write_spikes
from spikesci.io.dat import pack_frames, unpack_frames

REDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "spike-reds"


def _expected_bytes(spikes: np.ndarray) -> bytes:
    """The SpikeCV layout written out by hand: rows bottom-up, 8 pixels a byte, LSB first, zero padded."""
    out = bytearray()
    t, h, w = spikes.shape
    for f in range(t):
        bits = [int(spikes[f, r, c]) for r in range(h - 1, -1, -1) for c in range(w)]
        bits += [0] * (-len(bits) % 8)
        for k in range(0, len(bits), 8):
            out.append(sum(bit << j for j, bit in enumerate(bits[k : k + 8])))
    return bytes(out)


def test_hand_made_file_matches_spikecv_layout(tmp_path):
    # 2 x 8 frame: top-left pixel and bottom-right pixel fire. The bottom row is stored first, and
    # pixel 8k+j is bit j (LSB first) of byte k: so bottom row -> 0x80, top row -> 0x01.
    frame = np.zeros((1, 2, 8), np.uint8)
    frame[0, 0, 0] = 1
    frame[0, 1, 7] = 1
    path = tmp_path / "hand.dat"
    path.write_bytes(b"\x80\x01")
    assert np.array_equal(read_dat(path, 2, 8), frame)
    write_dat(tmp_path / "ours.dat", frame)
    assert (tmp_path / "ours.dat").read_bytes() == b"\x80\x01"
    # second frame: the first three pixels of the top row -> byte 1 = 0b00000111
    two = np.concatenate([frame, np.zeros_like(frame)])
    two[1, 0, :3] = 1
    path.write_bytes(b"\x80\x01\x00\x07")
    assert np.array_equal(read_dat(path, 2, 8), two)


@pytest.mark.parametrize("shape", [(3, 3, 5), (2, 5, 5), (1, 250, 250), (2, 4, 6), (3, 8, 16)])
def test_write_matches_hand_layout_including_padded_frames(tmp_path, shape):
    spikes = (np.random.default_rng(sum(shape)).random(shape) < 0.4).astype(np.uint8)
    path = tmp_path / "x.dat"
    write_dat(path, spikes)
    assert path.read_bytes() == _expected_bytes(spikes)
    assert path.stat().st_size == shape[0] * -(-shape[1] * shape[2] // 8)
    assert np.array_equal(read_dat(path, shape[1], shape[2]), spikes)


@settings(max_examples=60, deadline=None)
@given(
    t=st.integers(0, 4), h=st.integers(1, 23), w=st.integers(1, 23),
    kind=st.sampled_from(["random", "ones", "zeros"]), seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.0, 1.0),
)
def test_round_trip_random_sizes(tmp_path_factory, t, h, w, kind, seed, density):
    if kind == "random":
        spikes = (np.random.default_rng(seed).random((t, h, w)) < density).astype(np.uint8)
    else:
        spikes = np.full((t, h, w), kind == "ones", np.uint8)
    path = tmp_path_factory.mktemp("rt") / "s.dat"
    write_dat(path, spikes)
    assert path.stat().st_size == t * dat_frame_bytes(h, w)
    back = read_dat(path, h, w)
    assert back.dtype == np.uint8 and back.shape == (t, h, w)
    assert np.array_equal(back, spikes)
    assert np.array_equal(unpack_frames(pack_frames(spikes), h, w), spikes)


def test_bool_and_int_input_and_bad_arrays(tmp_path):
    spikes = np.random.default_rng(0).random((2, 3, 7)) < 0.5
    write_dat(tmp_path / "b.dat", spikes)
    write_dat(tmp_path / "i.dat", spikes.astype(np.int64))
    assert (tmp_path / "b.dat").read_bytes() == (tmp_path / "i.dat").read_bytes()
    with pytest.raises(SpikeFileError, match="0 and 1"):
        write_dat(tmp_path / "bad.dat", np.full((1, 2, 2), 2, np.uint8))
    with pytest.raises(SpikeFileError, match="0 and 1"):
        write_dat(tmp_path / "bad.dat", np.full((1, 2, 2), 0.5))
    with pytest.raises(SpikeFileError, match=r"\(T, H, W\)"):
        write_dat(tmp_path / "bad.dat", np.zeros((4, 4), np.uint8))
    assert not (tmp_path / "bad.dat").exists() and not list(tmp_path.glob("*.part"))


def test_file_that_is_not_whole_frames_is_refused_with_fitting_sizes(tmp_path):
    path = tmp_path / "cut.dat"
    path.write_bytes(bytes(12500 + 100))
    with pytest.raises(SpikeFileError) as info:
        read_dat(path)
    message = str(info.value)
    assert "12600 bytes" in message and "250x400" in message
    assert "1 frames = 12500 bytes" in message and "2 frames = 25000 bytes" in message
    # two 250x250 frames (7813 bytes each, padded) read as 250x400: the message suggests 250x250
    path.write_bytes(bytes(2 * dat_frame_bytes(250, 250)))
    with pytest.raises(SpikeFileError, match=r"250x250 \(2 frames\)"):
        read_dat(path)
    assert read_dat(path, 250, 250).shape == (2, 250, 250)
    with pytest.raises(SpikeFileError, match="no such file"):
        read_dat(tmp_path / "missing.dat")
    with pytest.raises(SpikeFileError, match="positive"):
        read_dat(path, 0, 400)


def test_frame_ranges(tmp_path):
    spikes = (np.random.default_rng(1).random((10, 5, 9)) < 0.3).astype(np.uint8)
    path = tmp_path / "r.dat"
    write_dat(path, spikes)
    assert dat_num_frames(path, 5, 9) == 10
    for frames, want in [
        (None, spikes), (3, spikes[:3]), ((2, 7), spikes[2:7]), (slice(4, None), spikes[4:]),
        (range(1, 2), spikes[1:2]), ((-3, None), spikes[-3:]), ((5, 5), spikes[5:5]),
        (slice(None, -8), spikes[:2]),
    ]:
        got = read_dat(path, 5, 9, frames=frames)
        assert got.shape == want.shape and np.array_equal(got, want), frames
    for bad in [(8, 11), (6, 4), 11, slice(0, 10, 2)]:
        with pytest.raises(SpikeFileError):
            read_dat(path, 5, 9, frames=bad)
    assert np.array_equal(read_spikes(path, 5, 9, frames=(2, 4)), spikes[2:4])


def test_empty_file_has_no_frames(tmp_path):
    path = tmp_path / "empty.dat"
    write_dat(path, np.zeros((0, 4, 4), np.uint8))
    assert path.stat().st_size == 0
    assert read_dat(path, 4, 4).shape == (0, 4, 4)


def test_read_range_of_2gb_sparse_file_touches_only_those_frames(tmp_path):
    path = tmp_path / "big.dat"
    fb = dat_frame_bytes(250, 400)
    total = 2_000_000_000 // fb  # 160000 frames, 2 GB
    with open(path, "wb") as fh:
        fh.truncate(total * fb)
        fh.seek(1000 * fb + 3)  # one spike in frame 1000 so we know the right bytes were read
        fh.write(b"\x01")
    assert os.stat(path).st_blocks * 512 < 10 << 20  # really sparse, not written out
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        got = read_dat(path, frames=(1000, 1064))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert got.shape == (64, 250, 400) and got.sum() == 1
    assert got[0, 249, 24] == 1  # byte 3, bit 0 -> pixel 24 of the stored first row = bottom image row
    assert peak < 100 << 20 and rss_growth_mb < 100
    assert read_dat(path, frames=(total - 1, total)).shape == (1, 250, 400)


@pytest.mark.skipif(not REDS.is_dir(), reason="spike-REDS clips not present in ../shared/data (optional)")
def test_spike_reds_clips_read_upright_with_sane_firing_rate():
    from PIL import Image

    clips = sorted(REDS.glob("*.dat"))
    assert clips
    for clip in clips:
        spikes = read_dat(clip)
        assert spikes.shape == (301, 250, 400)
        assert 0.05 < spikes.mean() < 0.6
        rate = spikes[130:171].mean(axis=0)
        truth = np.asarray(Image.open(clip.with_suffix(".png")).convert("L"), dtype=np.float64)
        upright = np.corrcoef(rate.ravel(), truth.ravel())[0, 1]
        flipped = np.corrcoef(rate[::-1].ravel(), truth.ravel())[0, 1]
        assert upright > 0.8 and upright > flipped + 0.3  # rows come back the right way up
        assert np.array_equal(read_dat(clip, frames=(150, 151))[0], spikes[150])


def test_write_spikes_by_extension(tmp_path):
    spikes = (np.random.default_rng(2).random((3, 6, 5)) < 0.5).astype(np.uint8)
    for name in ("a.dat", "a.npz"):
        write_spikes(tmp_path / name, spikes)
        assert np.array_equal(read_spikes(tmp_path / name, 6, 5), spikes)
    with pytest.raises(SpikeFileError, match="unknown spike file type"):
        write_spikes(tmp_path / "a.txt", spikes)
    with pytest.raises(SpikeFileError, match="unknown spike file type"):
        read_spikes(tmp_path / "a.txt")


def test_negative_frame_count_is_refused_and_lazy_clip_reads_ranges(tmp_path):
    """Issue 16: read_dat(path, frames=-3) returned 298 frames; `open_dat` slices without loading all."""
    from spikesci.errors import SpikeFileError
    from spikesci.io import open_dat, read_dat, write_dat

    spikes = (np.random.default_rng(2).random((30, 16, 24)) < 0.3).astype(np.uint8)
    write_dat(tmp_path / "a.dat", spikes)
    with pytest.raises(SpikeFileError, match="count"):
        read_dat(tmp_path / "a.dat", 16, 24, frames=-3)
    assert np.array_equal(read_dat(tmp_path / "a.dat", 16, 24, frames=(-3, None)), spikes[-3:])
    clip = open_dat(tmp_path / "a.dat", 16, 24)
    assert clip.shape == (30, 16, 24) and len(clip) == 30
    assert np.array_equal(clip[5:9], spikes[5:9]) and np.array_equal(clip[-1], spikes[-1])
    assert np.array_equal(np.asarray(clip), spikes)
    with pytest.raises(IndexError):
        clip[30]


def test_bad_values_name_the_file_and_what_was_found(tmp_path):
    from spikesci.errors import SpikeFileError
    from spikesci.io import read_npz

    np.savez(tmp_path / "v.npz", spk=np.full((2, 4, 4), 7, np.int64))
    with pytest.raises(SpikeFileError, match=r"v\.npz: spikes must hold only 0 and 1, found int64 values"):
        read_npz(tmp_path / "v.npz")
    (tmp_path / "r.npz").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(SpikeFileError, match="r.npz") as info:
        read_npz(tmp_path / "r.npz")
    assert "pickle" not in str(info.value)
