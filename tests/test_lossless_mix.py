"""The compiled "mix" coder against its plain-Python specification, and the model choice."""

import struct
from pathlib import Path

import numpy as np
import pytest

from spikesci.errors import ContainerError
from spikesci.lossless import archive_info, mixref, pack_spikes, unpack_spikes
from spikesci.lossless.coder import decode_chunk, encode_chunk
from spikesci.lossless.mix import COMPILED
from spikesci.lossless.spec import ModelSpec, default_model

DATA = Path("/work/shared/data")
needs_compiled = pytest.mark.skipif(not COMPILED, reason="compiled coder not built")


def _clips():
    rng = np.random.default_rng(0)
    yield rng.integers(0, 2, (6, 5, 7), dtype=np.uint8)
    yield (rng.random((8, 9, 11)) < 0.05).astype(np.uint8)
    yield np.zeros((3, 1, 1), np.uint8)
    yield np.ones((4, 2, 3), np.uint8)
    yield (rng.random((5, 1, 9)) < 0.4).astype(np.uint8)
    yield (rng.random((4, 9, 1)) < 0.4).astype(np.uint8)
    # an integrate-and-fire pixel array: long regular ISIs, so every context path is taken
    lum = rng.uniform(0.05, 0.9, (12, 14))
    acc, frames = rng.random((12, 14)), []
    for _ in range(40):
        acc = acc + lum
        frames.append((acc >= 1).astype(np.uint8))
        acc -= frames[-1]
    yield np.stack(frames)


@needs_compiled
@pytest.mark.parametrize("clip", list(_clips()), ids=lambda c: "x".join(map(str, c.shape)))
def test_compiled_coder_is_the_specification(clip):
    from spikesci.lossless import _mixcoder

    t, h, w = clip.shape
    fast = _mixcoder.encode(clip.tobytes(), t, h, w)
    assert fast == mixref.encode(clip.tobytes(), t, h, w)
    out = bytearray(clip.size)
    mixref.decode(fast, t, h, w, out)
    assert bytes(out) == clip.tobytes()
    back = np.empty_like(clip)
    _mixcoder.decode(fast, t, h, w, back)
    assert np.array_equal(back, clip)


@needs_compiled
@pytest.mark.skipif(not (DATA / "spike-reds").is_dir(), reason="spike-REDS clips not in /work/shared/data")
def test_compiled_coder_is_the_specification_on_real_spikes():
    from spikesci.io import read_dat
    from spikesci.lossless import _mixcoder

    src = sorted((DATA / "spike-reds").glob("*.dat"))[0]
    clip = np.ascontiguousarray(read_dat(src, frames=10)[:, 100:114, 200:226])
    t, h, w = clip.shape
    assert _mixcoder.encode(clip.tobytes(), t, h, w) == mixref.encode(clip.tobytes(), t, h, w)


def test_reference_round_trip_without_the_compiled_coder():
    clip = next(iter(_clips()))
    t, h, w = clip.shape
    data = mixref.encode(clip.tobytes(), t, h, w)
    out = bytearray(clip.size)
    mixref.decode(data, t, h, w, out)
    assert bytes(out) == clip.tobytes()


@needs_compiled
def test_mix_is_the_default_and_smaller_than_ctx(tmp_path):
    rng = np.random.default_rng(3)
    lum = rng.uniform(0.1, 0.7, (24, 32))
    acc, frames = rng.random((24, 32)), []
    for i in range(60):
        acc = acc + np.roll(lum, i // 6, axis=1)
        frames.append((acc >= 1).astype(np.uint8))
        acc -= frames[-1]
    spikes = np.stack(frames)
    assert default_model() == "mix"
    mix = pack_spikes(spikes, tmp_path / "m.spkz")
    ctx = pack_spikes(spikes, tmp_path / "c.spkz", model="ctx")
    assert archive_info(tmp_path / "m.spkz")["model"] == "mix"
    assert mix["bytes"] < ctx["bytes"]
    assert np.array_equal(unpack_spikes(tmp_path / "m.spkz"), spikes)
    assert np.array_equal(unpack_spikes(tmp_path / "m.spkz", frames=(17, 45)), spikes[17:45])


def test_model_versions():
    assert ModelSpec("mix").version == 3 and ModelSpec("ctx").version == 2
    with pytest.raises(ValueError):
        ModelSpec("mix", 2)
    with pytest.raises(ValueError):
        ModelSpec("ctx", 3)


@needs_compiled
def test_garbage_stream_decodes_without_crashing():
    """A payload whose CRC would pass but whose stream is random decodes to some bits, never a crash."""
    rng = np.random.default_rng(9)
    good = encode_chunk(np.zeros((5, 6, 7), np.uint8), ModelSpec("mix"))
    assert struct.unpack_from("<IBI", good) == (5, 0, len(good) - 9)
    for n in (0, 1, 5, 64, 4096):
        payload = struct.pack("<IBI", 5, 0, n) + bytes(rng.integers(0, 256, n, dtype=np.uint8))
        out, _ = decode_chunk(payload, 6, 7, ModelSpec("mix"), 5)
        assert out.shape == (5, 6, 7) and set(np.unique(out)) <= {0, 1}
    with pytest.raises(ContainerError):  # a length that does not match the payload is refused
        decode_chunk(good + b"x", 6, 7, ModelSpec("mix"), 5)


@needs_compiled
@pytest.mark.parametrize("frames", [None, (0, 1), (7, 17), (16, 21)])
def test_fast_dat_path_keeps_padding_bits_and_ranges(tmp_path, frames):
    """The numpy-free unpack (mix archive -> .dat) gives back the .dat byte for byte, padding bits
    included, for any frame range and worker count."""
    import io

    from spikesci.lossless import pack, unpack

    fixture = Path(__file__).parent / "fixtures" / "spkz_v2_ctx.dat"  # 17 x 23, padding bits set
    dat = fixture.read_bytes()
    pack(fixture, tmp_path / "m.spkz", height=17, width=23, chunk_frames=8, bands=2)
    fb = (17 * 23 + 7) // 8
    a, b = (0, 21) if frames is None else frames
    for workers in (1, 2):
        buf = io.BytesIO()
        stats = unpack(tmp_path / "m.spkz", buf, frames=frames, workers=workers)
        assert buf.getvalue() == dat[a * fb : b * fb] and stats["frame_range"] == [a, b]
    unpack(tmp_path / "m.spkz", tmp_path / "o.dat", frames=frames)
    assert (tmp_path / "o.dat").read_bytes() == dat[a * fb : b * fb]


def test_thread_map_keeps_order_and_raises_in_order():
    import time

    from spikesci.lossless.parallel import ordered_map

    def slow_square(x):
        time.sleep(0.002 * (5 - x % 5))  # later items finish first
        if x == 7:
            raise KeyError(x)
        return x * x

    out = []
    with pytest.raises(KeyError):
        for v in ordered_map(slow_square, range(12), 2, 12, threads=True):
            out.append(v)
    assert out == [x * x for x in range(7)]
    assert list(ordered_map(slow_square, range(5), 2, 5, threads=True)) == [0, 1, 4, 9, 16]


def test_without_the_compiled_coder_pack_uses_ctx_and_mix_archives_still_unpack(tmp_path):
    """A machine where the extension was not built: pack falls back to "ctx", and a "mix" archive made
    elsewhere decodes through the pure-Python specification (with a one-line warning), byte for byte."""
    import subprocess
    import sys

    rng = np.random.default_rng(4)
    spikes = (rng.random((6, 7, 9)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "s.npy", spikes)
    if COMPILED:
        pack_spikes(spikes, tmp_path / "m.spkz", model="mix")
    else:
        pytest.skip("needs the compiled coder to write the mix archive")
    code = f"""
import sys, numpy as np
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "spikesci.lossless._mixcoder":
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
from spikesci.lossless import archive_info, pack_spikes, unpack_spikes
from spikesci.lossless.mix import COMPILED
spikes = np.load(r"{tmp_path / 's.npy'}")
pack_spikes(spikes, r"{tmp_path / 'c.spkz'}")
assert not COMPILED and archive_info(r"{tmp_path / 'c.spkz'}")["model"] == "ctx"
assert np.array_equal(unpack_spikes(r"{tmp_path / 'm.spkz'}"), spikes)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("compiled archive coder is not built") == 1
