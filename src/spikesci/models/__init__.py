"""Learned perception: FEM (end side, `extract`), FAM (cloud side, `analysis`), shipped weights (`zoo`).

Nothing is imported eagerly, so `import spikesci.models.extract` (the camera side) loads no cloud-side code.
"""

from importlib import import_module

_WHERE = {"FEM": "extract", "FEMConfig": "extract", "FAM": "analysis", "FAMConfig": "analysis",
          "load_perception": "zoo", "Perception": "zoo"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"spikesci.models.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'spikesci.models' has no attribute {name!r}")


__all__ = list(_WHERE)
