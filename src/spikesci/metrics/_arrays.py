"""Turn numpy arrays or torch tensors into float64 numpy arrays for the metrics (no torch import needed)."""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError


def as_numpy(x) -> np.ndarray:
    """float64 numpy view of an array, list or torch tensor (detached, moved to the CPU)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def same_shape(x, ref) -> tuple[np.ndarray, np.ndarray]:
    x, ref = as_numpy(x), as_numpy(ref)
    if x.shape != ref.shape:
        raise SpikeSciError(f"image and reference differ in shape: {x.shape} vs {ref.shape}")
    return x, ref
