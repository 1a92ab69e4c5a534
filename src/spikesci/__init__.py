"""spikesci: Spike Coding for Intelligence.

`import spikesci` stays instant: sub-packages load on first use, so `spikesci.io.read_dat(...)` and
`spikesci.metrics.psnr(...)` work as written in the README without importing torch for them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

SUBMODULES = ("baselines", "bench", "data", "demo", "errors", "io", "lossless", "metrics", "models",
              "progress", "reconstruct", "sci", "sci_header", "simulate", "tasks", "train")


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"spikesci.{name}")
    raise AttributeError(f"module 'spikesci' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(SUBMODULES))
