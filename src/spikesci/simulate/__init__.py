"""Simulated spike cameras and scenes (the one place the intensity convention lives: camera.py)."""

from spikesci.simulate.camera import (
    DEFAULT_WHITE_RATE,
    NOISY,
    CameraConfig,
    IFCamera,
    luminance_to_rate,
    rate_to_luminance,
    simulate_spikes,
)

__all__ = [
    "DEFAULT_WHITE_RATE",
    "NOISY",
    "CameraConfig",
    "IFCamera",
    "luminance_to_rate",
    "rate_to_luminance",
    "simulate_spikes",
]
