"""The integrate-and-fire camera: firing rate against its closed form, noise options, random init, seeds."""

import numpy as np
import pytest

from spikesci.simulate import (
    DEFAULT_WHITE_RATE,
    NOISY,
    CameraConfig,
    IFCamera,
    luminance_to_rate,
    rate_to_luminance,
    simulate_spikes,
)


def _constant(level, frames=1000, size=(16, 16)):
    return np.full((frames, *size), level, np.float32)


@pytest.mark.parametrize("level", [0.0, 0.05, 0.37, 0.8, 1.0])
def test_rate_matches_closed_form_for_constant_light(level):
    frames = 1000
    spikes = simulate_spikes(_constant(level, frames), CameraConfig(), seed=3)
    counts = spikes.sum(axis=0)
    expected = frames * level * DEFAULT_WHITE_RATE
    # reset by subtraction: each pixel's count is floor(A_0 + T * eta * L), A_0 in [0, 1)
    assert np.all(np.abs(counts - expected) <= 1)
    assert spikes.mean() == pytest.approx(level * DEFAULT_WHITE_RATE, abs=1e-3)


@pytest.mark.parametrize("white_rate", [0.3, 0.6, 1.0])
def test_white_rate_and_threshold_set_the_scale(white_rate):
    cfg = CameraConfig(white_rate=white_rate, threshold=2.5)
    spikes = simulate_spikes(_constant(0.5, 800), cfg, seed=0)
    assert spikes.mean() == pytest.approx(0.5 * white_rate, abs=2e-3)
    assert luminance_to_rate(0.5, white_rate) == pytest.approx(0.5 * white_rate)


def test_rate_luminance_conversions_invert_and_clip():
    lum = np.linspace(0, 1, 11)
    assert np.allclose(rate_to_luminance(luminance_to_rate(lum)), lum, atol=1e-6)
    assert luminance_to_rate(1.7) == pytest.approx(DEFAULT_WHITE_RATE)
    assert rate_to_luminance(0.9) == 1.0 and rate_to_luminance(-0.1) == 0.0


def test_light_above_white_saturates():
    spikes = simulate_spikes(_constant(3.0, 200), CameraConfig(), seed=0)
    assert spikes.mean() == pytest.approx(DEFAULT_WHITE_RATE, abs=0.01)


def test_random_initial_potential():
    dim = _constant(0.1, 1)
    with_init = simulate_spikes(dim, CameraConfig(random_init=True), seed=0)
    without = simulate_spikes(dim, CameraConfig(random_init=False), seed=0)
    assert without.sum() == 0  # A_1 = 0.06 < theta everywhere
    assert with_init.mean() == pytest.approx(0.06, abs=0.04)  # P(A_0 + 0.06 >= 1) = 0.06
    a = simulate_spikes(_constant(0.3, 5), CameraConfig(), seed=1)
    b = simulate_spikes(_constant(0.3, 5), CameraConfig(), seed=2)
    assert not np.array_equal(a, b)  # phases differ with the seed
    assert np.array_equal(a, simulate_spikes(_constant(0.3, 5), CameraConfig(), seed=1))


def test_noise_options_change_the_spikes_as_documented():
    light = _constant(0.4, 600, (24, 24))
    clean = simulate_spikes(light, CameraConfig(), seed=0)
    per_pixel = clean.mean(axis=0)
    mismatch = simulate_spikes(light, CameraConfig(threshold_mismatch=0.1), seed=0).mean(axis=0)
    assert mismatch.std() > 5 * per_pixel.std()  # fixed-pattern noise: rates differ pixel to pixel
    dark = simulate_spikes(_constant(0.0, 2000, (8, 8)), CameraConfig(dark_current=0.01), seed=0)
    assert dark.mean() == pytest.approx(0.01, abs=1e-3)  # dark current fires with no light at all
    assert simulate_spikes(_constant(0.0, 2000, (8, 8)), CameraConfig(), seed=0).sum() == 0
    noisy = simulate_spikes(light, CameraConfig(read_noise=0.05), seed=0)
    assert not np.array_equal(noisy, clean)
    assert noisy.mean() == pytest.approx(clean.mean(), abs=0.005)  # zero-mean noise keeps the rate
    assert not np.array_equal(simulate_spikes(light[:50], NOISY, seed=0), clean[:50])


def test_streaming_camera_equals_batch_and_takes_iterables():
    rng = np.random.default_rng(0)
    lum = rng.random((20, 6, 7)).astype(np.float32)
    batch = simulate_spikes(lum, NOISY, seed=5)
    from_generator = simulate_spikes((frame for frame in lum), NOISY, seed=5)
    camera = IFCamera(6, 7, NOISY, seed=5)
    streamed = np.stack([camera.step(frame) for frame in lum])
    assert batch.dtype == np.uint8 and batch.shape == lum.shape
    assert np.array_equal(batch, from_generator) and np.array_equal(batch, streamed)


def test_config_checks():
    with pytest.raises(ValueError):
        CameraConfig(white_rate=0.0)
    with pytest.raises(ValueError):
        CameraConfig(white_rate=1.5)
    with pytest.raises(ValueError):
        CameraConfig(threshold=0.0)
    assert CameraConfig(white_rate=0.5, threshold=2.0).efficiency == pytest.approx(1.0)
