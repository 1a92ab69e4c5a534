"""TFP / TFI: closed forms, the simulator's static scenes, sequence == per-frame, spike-REDS protocol."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikesci.errors import SpikeSciError
from spikesci.io import read_dat, write_dat
from spikesci.metrics import psnr
from spikesci.reconstruct import tfi, tfi_sequence, tfp, tfp_sequence
from spikesci.simulate import CameraConfig, simulate_spikes

REDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "spike-reds"


def periodic(periods: np.ndarray, frames: int, seed: int = 0) -> np.ndarray:
    """Spikes (T, H, W): pixel (i, j) fires every periods[i, j] frames, at a random phase."""
    rng = np.random.default_rng(seed)
    phase = rng.integers(0, periods)
    t = np.arange(frames)[:, None, None]
    return ((t - phase) % periods == 0).astype(np.uint8)


def static_scene(size: int = 48, frames: int = 121, seed: int = 1):
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    image = (0.1 + 0.85 * (0.5 + 0.5 * np.sin(6 * xx) * np.cos(4 * yy))).astype(np.float32)
    return image, simulate_spikes(np.broadcast_to(image, (frames, size, size)), seed=seed)


def test_periodic_closed_form():
    periods = np.array([[2, 3], [4, 5]])
    spikes = periodic(np.tile(periods, (3, 3)), 200)
    expected = np.tile(1.0 / (periods * 0.5), (3, 3))  # white rate 0.5 -> L = 1 / (period * 0.5)
    # a 60-frame window holds exactly 60 / period spikes whatever the phase
    np.testing.assert_allclose(tfp(spikes, 100, window=60, white_rate=0.5), expected, rtol=1e-6)
    for t in (10, 100, 150):
        np.testing.assert_allclose(tfi(spikes, t, white_rate=0.5), expected, rtol=1e-6)
    seq = tfi_sequence(spikes, white_rate=0.5)[10:190]
    np.testing.assert_allclose(seq, np.broadcast_to(expected, seq.shape), rtol=1e-6)


def test_tfp_window_placement_and_clipping():
    rng = np.random.default_rng(3)
    spikes = (rng.random((100, 5, 7)) < 0.3).astype(np.uint8)

    def rate(a, b):
        return np.clip(spikes[a:b].mean(0) / 0.6, 0, 1)

    np.testing.assert_allclose(tfp(spikes, 50, 41, 0.6), rate(30, 71), rtol=1e-6)
    np.testing.assert_allclose(tfp(spikes, 0, 41, 0.6), rate(0, 41), rtol=1e-6)  # shifted inside the clip
    np.testing.assert_allclose(tfp(spikes, 99, 41, 0.6), rate(59, 100), rtol=1e-6)
    np.testing.assert_allclose(tfp(spikes, 10, 4, 1.0), spikes[8:12].mean(0), rtol=1e-6)  # even: 2 before
    np.testing.assert_allclose(tfp(spikes[:9], 4, 41, 1.0), spikes[:9].mean(0), rtol=1e-6)  # short clip
    assert tfp(np.ones((50, 2, 2), np.uint8)).max() == 1.0  # rate above the white rate clips to 1
    assert tfp(spikes).dtype == np.float32 and tfp(spikes).shape == (5, 7)
    assert tfp(spikes).mean() == tfp(spikes, 50).mean()  # default centre is T // 2


@pytest.mark.parametrize("frames", [1, 7, 300])  # 300 crosses the 128-frame chunks
def test_sequences_equal_per_frame(frames):
    rng = np.random.default_rng(frames)
    rates = rng.choice([0.0, 0.01, 0.2, 0.6], size=(6, 9))  # dark pixels exercise the TFI fallback
    spikes = (rng.random((frames, 6, 9)) < rates).astype(np.uint8)
    seq_p, seq_i = tfp_sequence(spikes, window=41), tfi_sequence(spikes)
    assert seq_p.shape == seq_i.shape == spikes.shape and seq_p.dtype == seq_i.dtype == np.float32
    for t in sorted({0, 1, frames // 2, 127, 128, frames - 2, frames - 1} & set(range(frames))):
        np.testing.assert_array_equal(seq_p[t], tfp(spikes, t))
        np.testing.assert_array_equal(seq_i[t], tfi(spikes, t))


def test_tfi_fallback_for_pixels_without_interval():
    spikes = np.zeros((100, 1, 3), np.uint8)
    spikes[[20, 24, 28], 0, 0] = 1  # interval of 4 around frame 22
    spikes[70, 0, 1] = 1  # one spike only: no interval anywhere
    # pixel 2 never fires
    out = tfi(spikes, 22, white_rate=0.5)
    assert out[0, 0] == pytest.approx(0.5)
    assert out[0, 1] == tfp(spikes, 22, white_rate=0.5)[0, 1] == 0.0
    assert out[0, 2] == 0.0
    assert tfi(spikes, 60, white_rate=0.5)[0, 1] == pytest.approx(1 / 41 / 0.5)  # TFP window 40..80 holds it


def test_static_simulated_scene_accuracy():
    image, spikes = static_scene()
    t = 60
    # integrate-and-fire under constant light: a window of w frames holds floor or ceil of w * rate spikes,
    # and every interval is floor or ceil of 1 / rate frames
    for window in (41, 121):
        assert np.abs(tfp(spikes, t, window) - image).max() <= 1 / (window * 0.6) + 1e-6
    rate = image * 0.6
    est = tfi(spikes, t)
    assert np.all(est >= 1 / (np.ceil(1 / rate) * 0.6) - 1e-6)
    assert np.all(est <= np.minimum(1 / (np.floor(1 / rate) * 0.6), 1) + 1e-6)
    assert psnr(tfp(spikes, t, 41), image) > 33.0
    assert psnr(tfp(spikes, t, 121), image) > 42.0
    assert psnr(tfi(spikes, t), image) > 20.0
    assert psnr(tfp_sequence(spikes), np.broadcast_to(image, spikes.shape)) > 33.0


def test_white_rate_convention_matches_simulator():
    image, _ = static_scene(frames=2)
    spikes = simulate_spikes(np.broadcast_to(image, (201, 48, 48)), CameraConfig(white_rate=0.3), seed=2)
    assert psnr(tfp(spikes, 100, 201, white_rate=0.3), image) > 40
    assert psnr(tfp(spikes, 100, 201, white_rate=0.6), image * 0.5) > 40  # wrong rate: half as bright


def test_memmap_input(tmp_path):
    _, spikes = static_scene(size=16, frames=50)
    write_dat(tmp_path / "s.dat", spikes)
    mm = read_dat(tmp_path / "s.dat", 16, 16)
    np.testing.assert_array_equal(tfp(mm, 10), tfp(spikes, 10))
    np.testing.assert_array_equal(tfi_sequence(mm), tfi_sequence(spikes))


def test_bad_input_is_refused():
    spikes = np.zeros((10, 4, 4), np.uint8)
    with pytest.raises(SpikeSciError, match="outside the clip"):
        tfp(spikes, 10)
    with pytest.raises(SpikeSciError, match="outside the clip"):
        tfi(spikes, -1)
    with pytest.raises(SpikeSciError, match="white rate"):
        tfp(spikes, white_rate=0)
    with pytest.raises(SpikeSciError, match="window"):
        tfp_sequence(spikes, window=0)
    with pytest.raises(SpikeSciError, match="frames, height, width"):
        tfi(np.zeros((4, 4), np.uint8))


@pytest.mark.skipif(not REDS.is_dir(), reason=f"spike-REDS sample clips not found in {REDS}")
def test_spike_reds_protocol():
    """The published protocol: TFP(41) at frame 150, white rate 0.6, vs the ground truth -> about 23.5 dB."""
    scores = []
    for dat in sorted(REDS.glob("*.dat")):
        spikes = read_dat(dat, 250, 400)
        gt = np.asarray(Image.open(dat.with_suffix(".png")).convert("L"), dtype=np.float32) / 255.0
        scores.append(psnr(tfp(spikes, 150, 41, 0.6), gt))
        assert psnr(tfi(spikes, 150, 0.6), gt) > 22.0
    assert len(scores) == 2
    assert all(23.0 < s < 24.2 for s in scores), scores
    assert 23.3 < np.mean(scores) < 23.9, scores
