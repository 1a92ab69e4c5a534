"""Conventional codecs: real round trips through FFmpeg (PyAV), sizes, lossless exactness, clean skips."""

from __future__ import annotations

import numpy as np
import pytest

from spikesci.baselines import CODECS, CodecUnavailable, codec_report, get_codec
from spikesci.baselines.ffmpeg_cli import ffmpeg_exe
from spikesci.baselines.pyav import PyAVCodec
from spikesci.errors import SpikeSciError

H, W, T = 64, 96, 12


def _smooth(h=H, w=W, t=T) -> np.ndarray:
    """A moving textured pattern: something inter prediction can use."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = [np.sin((x + 1.5 * i) / 6.0) * np.cos(y / 9.0) * 70 + 0.6 * x + 60 for i in range(t)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def _spikes(h=H, w=W, t=T, p=0.15, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random((t, h, w)) < p).astype(np.uint8) * np.uint8(255)


def _psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _need(name):
    codec = get_codec(name)
    reason = codec.availability()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    return codec


PYAV = [n for n, c in CODECS.items() if issubclass(c, PyAVCodec)]
LOSSLESS = [n for n in PYAV if CODECS[n].supports_lossless]
LOSSY = [n for n in PYAV if CODECS[n].qualities]


def test_report_names_every_codec_and_says_why_not():
    report = codec_report()
    assert set(report) == set(CODECS)
    for name, status in report.items():
        assert status == "available" or (isinstance(status, str) and len(status) > 10), name
    assert report["ffv1"] == "available"  # PyAV is a dependency and always has FFV1


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize("kind", ["smooth", "spikes", "odd"])
def test_lossless_is_exact(name, kind):
    codec = _need(name)
    frames = {"smooth": _smooth(), "spikes": _spikes(), "odd": _spikes(h=50, w=61, t=5)}[kind]
    coded = codec.roundtrip(frames, None, gop=4)
    assert coded.frames.shape == frames.shape and coded.frames.dtype == np.uint8
    np.testing.assert_array_equal(coded.frames, frames)
    assert coded.num_bytes > 0


def test_ffv1_codes_sparse_spikes_below_raw_bits():
    coded = _need("ffv1").roundtrip(_spikes(p=0.05), None, gop=T)
    raw_bits = T * H * W  # one bit per spike-pixel
    assert 8 * coded.num_bytes < 0.6 * raw_bits


@pytest.mark.parametrize("name", LOSSY)
def test_lossy_quality_and_size_follow_the_setting(name):
    codec = _need(name)
    frames = _smooth()
    best, mid, worst = codec.qualities[0], codec.qualities[len(codec.qualities) // 2], codec.qualities[-1]
    runs = {q: codec.roundtrip(frames, q, gop=8) for q in (best, mid, worst)}
    for coded in runs.values():
        assert coded.frames.shape == frames.shape and coded.frames.dtype == np.uint8
    assert _psnr(runs[best].frames, frames) > 35.0
    assert _psnr(runs[best].frames, frames) > _psnr(runs[worst].frames, frames)
    assert runs[best].num_bytes > runs[mid].num_bytes > runs[worst].num_bytes
    assert runs[best].num_bytes < frames.size  # compresses at all


@pytest.mark.parametrize("name", LOSSY)
def test_odd_sizes_are_padded_and_cropped_back(name):
    codec = _need(name)
    frames = _smooth(h=37, w=53, t=4)
    coded = codec.roundtrip(frames, codec.qualities[0], gop=4)
    assert coded.frames.shape == frames.shape
    assert _psnr(coded.frames, frames) > 30.0


def test_size_is_packet_payload_plus_extradata():
    codec = _need("ffv1")
    stream = codec.encode(_spikes(), None, gop=4)
    assert stream.num_bytes == sum(len(p) for p in stream.packets) + len(stream.extradata)
    assert len(stream.extradata) > 0  # FFV1 level 3 keeps its header out of band: counted
    np.testing.assert_array_equal(codec.decode(stream), _spikes())


def test_gop_length_sets_keyframes():
    codec = _need("x264")
    frames = _smooth(t=16)
    intra = codec.roundtrip(frames, 27, gop=1).num_bytes
    inter = codec.roundtrip(frames, 27, gop=16).num_bytes
    assert inter < intra  # all-intra costs more than one long group of pictures


class _Missing(PyAVCodec):
    name = "missing"
    qualities = (30,)
    encoder, decoders = "no-such-encoder-xyz", ("no-such-decoder-xyz",)


def test_missing_encoder_is_a_clear_skip_not_a_crash():
    codec = _Missing()
    reason = codec.availability()
    assert reason is not None and "no-such-encoder-xyz" in reason
    assert not codec.available()
    with pytest.raises(CodecUnavailable, match="missing: encoder 'no-such-encoder-xyz'"):
        codec.roundtrip(_smooth(), 30)


@pytest.mark.parametrize("name", ["vvc", "aom-av1"])
def test_optional_ffmpeg_codecs_skip_or_run(name):
    codec = get_codec(name)
    if ffmpeg_exe() is None:
        assert "imageio-ffmpeg" in codec.availability()
        with pytest.raises(CodecUnavailable, match="imageio-ffmpeg"):
            codec.encode(_smooth(), codec.qualities[0])
        return
    if codec.availability() is not None:
        pytest.skip(codec.availability())
    frames = _smooth(t=8)
    coded = codec.roundtrip(frames, codec.qualities[1], gop=8)
    assert coded.frames.shape == frames.shape and _psnr(coded.frames, frames) > 30.0


def test_bad_inputs_are_refused_with_a_message():
    with pytest.raises(SpikeSciError, match="unknown codec"):
        get_codec("mpeg1")
    x264 = _need("x264")
    with pytest.raises(SpikeSciError, match="uint8"):
        x264.encode(_smooth().astype(np.float32), 27)
    with pytest.raises(SpikeSciError, match=r"\(T, H, W\)"):
        x264.encode(_smooth()[0], 27)
    with pytest.raises(SpikeSciError, match="group of pictures"):
        x264.encode(_smooth(), 27, gop=0)
    with pytest.raises(SpikeSciError, match="lossless only"):
        _need("ffv1").encode(_smooth(), 27)
    if get_codec("svt-av1").available():
        with pytest.raises(SpikeSciError, match="no lossless mode"):
            get_codec("svt-av1").encode(_smooth(), None)
