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
from spikesci.simulate.images import HELDOUT, list_images, load_image
from spikesci.simulate.scenes import (
    FAST,
    SLOW,
    STATIC,
    Scene,
    SceneConfig,
    iter_luminance,
    make_scene,
    plan_scene,
    preset,
    render_luminance,
)

__all__ = [
    "DEFAULT_WHITE_RATE",
    "FAST",
    "HELDOUT",
    "NOISY",
    "SLOW",
    "STATIC",
    "CameraConfig",
    "IFCamera",
    "Scene",
    "SceneConfig",
    "list_images",
    "load_image",
    "luminance_to_rate",
    "iter_luminance",
    "make_scene",
    "plan_scene",
    "preset",
    "rate_to_luminance",
    "render_luminance",
    "simulate_spikes",
]
