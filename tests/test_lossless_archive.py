from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesci.errors import ContainerError
from spikesci.io import read_dat, write_dat
from spikesci.lossless import archive_info, pack, pack_spikes, unpack, unpack_spikes
from spikesci.lossless.baselines import measure_general

DATA = Path("/work/shared/data")


def _moving(t, h, w, seed=0):
    """A tiny integrate-and-fire clip of a moving gradient: structured like real spikes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    acc = rng.random((h, w))
    out = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        lum = 0.1 + 0.5 * (0.5 + 0.5 * np.sin((xx + 0.3 * i) / 3.0 + yy / 5.0))
        acc += lum
        out[i] = acc >= 1
        acc -= out[i]
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    t=st.integers(0, 9),
    h=st.integers(1, 11),
    w=st.integers(1, 13),
    rate=st.sampled_from([0.0, 0.05, 0.3, 0.9, 1.0]),
    chunk=st.integers(1, 5),
    model=st.sampled_from(["mix", "ctx", "simple"]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(tmp_path, t, h, w, rate, chunk, model, seed):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((t, h, w)) < rate).astype(np.uint8)
    path = tmp_path / f"x{seed}.spkz"
    pack_spikes(spikes, path, chunk_frames=chunk, model=model)
    back = unpack_spikes(path)
    assert back.shape == spikes.shape and back.dtype == np.uint8
    assert np.array_equal(back, spikes)


@pytest.mark.parametrize("shape", [(1, 250, 250), (3, 5, 7), (4, 1, 1), (2, 8, 8)])
def test_dat_byte_for_byte(tmp_path, shape):
    spikes = _moving(*shape)
    src, arc, out = tmp_path / "a.dat", tmp_path / "a.spkz", tmp_path / "b.dat"
    write_dat(src, spikes)
    pack(src, arc, height=shape[1], width=shape[2], chunk_frames=2)
    unpack(arc, out)
    assert out.read_bytes() == src.read_bytes()


def test_nonzero_padding_bits_kept(tmp_path):
    spikes = _moving(3, 3, 5)
    src = tmp_path / "a.dat"
    write_dat(src, spikes)
    raw = bytearray(src.read_bytes())
    raw[1] |= 0xF0  # 15 pixels a frame: the top bit of each frame's second byte is padding
    raw[3] |= 0x80
    src.write_bytes(bytes(raw))
    pack(src, tmp_path / "a.spkz", height=3, width=5)
    unpack(tmp_path / "a.spkz", tmp_path / "b.dat")
    assert (tmp_path / "b.dat").read_bytes() == bytes(raw)


def test_empty_and_full_frames(tmp_path):
    spikes = np.zeros((6, 9, 10), np.uint8)
    spikes[2:4] = 1
    pack_spikes(spikes, tmp_path / "e.spkz", chunk_frames=4)
    assert np.array_equal(unpack_spikes(tmp_path / "e.spkz"), spikes)
    pack_spikes(spikes[:0], tmp_path / "z.spkz")
    assert unpack_spikes(tmp_path / "z.spkz").shape == (0, 9, 10)


def test_frame_range_is_slice_of_full(tmp_path):
    spikes = _moving(23, 12, 20, seed=3)
    arc = tmp_path / "r.spkz"
    pack_spikes(spikes, arc, chunk_frames=5)
    full = unpack_spikes(arc)
    for a, b in [(0, 23), (0, 1), (4, 6), (5, 10), (7, 19), (22, 23), (10, 10)]:
        assert np.array_equal(unpack_spikes(arc, frames=(a, b)), full[a:b])
    with pytest.raises(Exception, match="outside"):
        unpack_spikes(arc, frames=(5, 40))


def test_npz_round_trip_with_label(tmp_path):
    from spikesci.io import read_npz, write_npz

    spikes = _moving(4, 6, 6)
    write_npz(tmp_path / "a.npz", spikes, label=7)
    pack(tmp_path / "a.npz", tmp_path / "a.spkz")
    unpack(tmp_path / "a.spkz", tmp_path / "b.npz")
    back, label = read_npz(tmp_path / "b.npz", with_label=True)
    assert np.array_equal(back, spikes) and label == 7
    assert archive_info(tmp_path / "a.spkz")["source"] == ".npz"


def test_structured_clip_beats_xz_and_simple_model(tmp_path):
    spikes = _moving(60, 32, 40, seed=1)
    ctx = pack_spikes(spikes, tmp_path / "c.spkz")
    simple = pack_spikes(spikes, tmp_path / "s.spkz", model="simple")
    assert ctx["bytes"] < simple["bytes"]
    assert ctx["bytes"] < 0.6 * measure_general(spikes, "xz")["bytes"]


def test_stats_fields(tmp_path):
    spikes = _moving(8, 10, 10)
    st_ = pack_spikes(spikes, tmp_path / "s.spkz")
    assert st_["bytes"] == (tmp_path / "s.spkz").stat().st_size
    assert st_["bpp"] == pytest.approx(8 * st_["bytes"] / spikes.size)
    assert st_["bits_per_spike_pixel"] == st_["bpp"]


def test_not_an_archive(tmp_path):
    p = tmp_path / "x.spkz"
    p.write_bytes(b"hello world" * 10)
    with pytest.raises(ContainerError):
        unpack_spikes(p)


def test_deterministic_bytes(tmp_path):
    spikes = _moving(10, 16, 16)
    pack_spikes(spikes, tmp_path / "a.spkz")
    pack_spikes(spikes, tmp_path / "b.spkz")
    from spikesci.lossless.archive import Archive

    with Archive(tmp_path / "a.spkz") as a, Archive(tmp_path / "b.spkz") as b:
        assert a.reader.read_chunk(0) == b.reader.read_chunk(0)


@pytest.mark.skipif(not (DATA / "spike-reds").is_dir(), reason="spike-REDS clips not in /work/shared/data")
def test_spike_reds_floor(tmp_path):
    src = sorted((DATA / "spike-reds").glob("*.dat"))[0]
    spikes = read_dat(src, frames=64)
    ctx = pack_spikes(spikes, tmp_path / "c.spkz")
    simple = pack_spikes(spikes, tmp_path / "s.spkz", model="simple")
    xz = measure_general(spikes, "xz")
    assert ctx["bytes"] <= 0.6 * xz["bytes"]
    assert ctx["bytes"] < simple["bytes"]
    assert np.array_equal(unpack_spikes(tmp_path / "c.spkz", frames=(30, 40)), spikes[30:40])


@pytest.mark.parametrize("model", ["mix", "ctx"])
def test_parallel_workers_same_bytes(tmp_path, model):
    """Chunks coded by two workers (threads for mix, processes for ctx) give the same payloads as by
    one, and decode the same."""
    from spikesci.lossless.archive import Archive

    spikes = _moving(30, 16, 24, seed=4)
    pack_spikes(spikes, tmp_path / "one.spkz", chunk_frames=8, workers=1, model=model)
    pack_spikes(spikes, tmp_path / "two.spkz", chunk_frames=8, workers=2, model=model)
    with Archive(tmp_path / "one.spkz") as a, Archive(tmp_path / "two.spkz") as b:
        assert a.reader.num_chunks == b.reader.num_chunks == 4
        for i in range(4):
            assert a.reader.read_chunk(i) == b.reader.read_chunk(i)
    assert np.array_equal(unpack_spikes(tmp_path / "two.spkz", workers=2), spikes)
    assert np.array_equal(unpack_spikes(tmp_path / "two.spkz", frames=(5, 21), workers=2), spikes[5:21])


def test_context_model_tables_are_integers():
    """Determinism rests on counts being whole numbers and the level tables being integer lookups."""
    from spikesci.lossless.model import BUCKET_EDGES, LEVEL_EDGES, PSCALE, ChunkModel, ModelSpec

    for edges in (LEVEL_EDGES, BUCKET_EDGES):
        assert edges.dtype.kind == "i" and np.all(np.diff(edges) > 0) and 0 < edges[0] and edges[-1] < PSCALE
    m = ChunkModel(5, 6, ModelSpec("ctx"))
    frame = (np.arange(30).reshape(5, 6) % 3 == 0).astype(np.uint8)
    bits = frame.ravel()[m.layout.perm]  # pixels in phase order: each phase is a slice
    m.begin_frame()
    for ph, sl in enumerate(m.phases):
        lv, ctxs = m.levels(ph, frame)
        assert lv.dtype == np.uint8
        m.update_phase(ctxs, bits[sl])
    m.end_frame(frame, bits)
    assert np.array_equal(m.t1, np.round(m.t1)) and m.t1.sum() == 30


def test_frame_range_touches_only_its_chunks(tmp_path):
    """Damage chunk 0: frames in later chunks still decode (they never read it), frames in it are refused."""
    from spikesci.lossless.archive import Archive

    spikes = _moving(20, 8, 8, seed=6)
    arc = tmp_path / "r.spkz"
    pack_spikes(spikes, arc, chunk_frames=5)
    with Archive(arc) as a:
        offset = a.reader._load_index()[0][0] + 16 + 3  # a byte inside chunk 0's payload
    blob = bytearray(arc.read_bytes())
    blob[offset] ^= 0xFF
    arc.write_bytes(bytes(blob))
    assert np.array_equal(unpack_spikes(arc, frames=(10, 17)), spikes[10:17])
    with pytest.raises(ContainerError, match="chunk 0"):
        unpack_spikes(arc, frames=(2, 12))
