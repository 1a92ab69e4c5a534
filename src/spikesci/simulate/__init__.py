"""Simulated spike cameras and scenes (the one place the intensity convention lives: camera.py).

Names are loaded on first use: scenes.py pulls in scipy.ndimage (and through it torch), which commands that
only need the camera's constants must not pay for at start-up.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "spikesci.simulate.camera": ("DEFAULT_WHITE_RATE", "NOISY", "CameraConfig", "IFCamera",
                                 "luminance_to_rate", "rate_to_luminance", "simulate_spikes"),
    "spikesci.simulate.images": ("HELDOUT", "list_images", "load_image"),
    "spikesci.simulate.scenes": ("FAST", "SLOW", "STATIC", "Scene", "SceneConfig", "iter_luminance",
                                 "make_scene", "plan_scene", "preset", "render_luminance"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module 'spikesci.simulate' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
