"""The integrate-and-fire spike camera (paper Eq. 1-5) and THE intensity convention of spikesci.

Convention (used by the simulator, every reconstruction and every metric):
    a pixel under constant luminance L in [0, 1] fires, on average, `L * white_rate` spikes per frame.
    `white_rate` defaults to 0.6, the rate at full white of the public spike-REDS clips (their TFP over
    41 frames divided by 0.6 matches their ground truth), so our data and theirs agree.
So a reconstruction turns a firing rate r back into luminance with L = r / white_rate.

Model per pixel and frame t (Eq. 3-5):  A_t = A_{t-1} + eta * L_t (+ dark current + read noise);
    s_t = 1 if A_t >= theta (then A_t -= theta, reset by subtraction), else 0,
with eta = white_rate * theta, A_0 ~ U(0, theta) (random initial potential), and optional
per-pixel threshold mismatch theta_p = theta * (1 + mismatch * N(0, 1)).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from spikesci.errors import ConfigError

DEFAULT_WHITE_RATE = 0.6


@dataclass(frozen=True)
class CameraConfig:
    """Integrate-and-fire camera parameters. Noise terms are in units of the threshold per frame."""

    white_rate: float = DEFAULT_WHITE_RATE  # spikes per frame at luminance 1
    threshold: float = 1.0  # theta
    threshold_mismatch: float = 0.0  # relative std of the per-pixel threshold
    dark_current: float = 0.0  # potential added every frame regardless of light (x theta)
    read_noise: float = 0.0  # std of Gaussian noise on each integration step (x theta)
    random_init: bool = True  # A_0 ~ U(0, theta) rather than 0

    @property
    def efficiency(self) -> float:
        """Photoelectric efficiency eta, so that luminance 1 fires `white_rate` spikes per frame."""
        return self.white_rate * self.threshold

    def __post_init__(self) -> None:
        if not 0 < self.white_rate <= 1:
            raise ConfigError(f"white_rate must be in (0, 1] spikes per frame, got {self.white_rate}")
        if self.threshold <= 0:
            raise ConfigError("threshold must be positive")


NOISY = CameraConfig(threshold_mismatch=0.03, dark_current=0.002, read_noise=0.02)


def luminance_to_rate(luminance, white_rate: float = DEFAULT_WHITE_RATE):
    """Expected spikes per frame for luminance in [0, 1] (the convention above)."""
    return np.clip(luminance, 0.0, 1.0) * white_rate


def rate_to_luminance(rate, white_rate: float = DEFAULT_WHITE_RATE):
    """Luminance in [0, 1] from a firing rate in spikes per frame (inverse of `luminance_to_rate`)."""
    return np.clip(np.asarray(rate, dtype=np.float32) / white_rate, 0.0, 1.0)


class IFCamera:
    """A stateful camera: feed luminance frames one at a time, get binary spike frames (streaming)."""

    def __init__(self, height: int, width: int, config: CameraConfig = CameraConfig(), seed: int | None = 0):
        self.config = config
        self.rng = np.random.default_rng(seed)
        shape = (height, width)
        theta = np.full(shape, config.threshold, dtype=np.float64)
        if config.threshold_mismatch > 0:
            theta *= np.clip(1 + config.threshold_mismatch * self.rng.standard_normal(shape), 0.5, 1.5)
        self.theta = theta
        self.potential = self.rng.uniform(0, 1, shape) * theta if config.random_init else np.zeros(shape)

    def step(self, luminance: np.ndarray) -> np.ndarray:
        """Integrate one frame of luminance (H, W) in [0, 1]; return the (H, W) uint8 spike frame."""
        cfg = self.config
        gain = cfg.efficiency * np.clip(np.asarray(luminance, dtype=np.float64), 0.0, 1.0)
        if cfg.dark_current:
            gain = gain + cfg.dark_current * cfg.threshold
        if cfg.read_noise:
            gain = gain + cfg.read_noise * cfg.threshold * self.rng.standard_normal(gain.shape)
        # Read noise may lower the potential; flooring the potential (not the gain) at zero keeps the
        # mean firing rate unbiased for L > 0 while a dark pixel cannot build up "negative charge".
        np.maximum(self.potential + gain, 0.0, out=self.potential)
        fired = self.potential >= self.theta
        self.potential -= fired * self.theta
        return fired.astype(np.uint8)


def simulate_spikes(
    luminance: np.ndarray | Iterable[np.ndarray], config: CameraConfig = CameraConfig(), seed: int | None = 0
) -> np.ndarray:
    """Spikes (T, H, W) uint8 from a luminance sequence (T, H, W) in [0, 1] (or an iterable of frames)."""
    frames = iter(luminance)
    first = np.asarray(next(frames))
    camera = IFCamera(first.shape[0], first.shape[1], config, seed)
    out = [camera.step(first)]
    out.extend(camera.step(f) for f in frames)
    return np.stack(out)
