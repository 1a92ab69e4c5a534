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


def check_range(x, ref, data_range: float) -> None:
    """Refuse mixed scales, which make quality metrics silently meaningless (issue 16: a float picture in
    [0, 1] against an 8-bit ground truth gave -40.5 dB): values beyond twice `data_range` (another scale
    than the one given), or, at a range above 2, one array within [0, 1] and the other beyond 2. Values a
    little outside the range (an unclamped reconstruction, noise) are fine."""
    if not data_range > 0:
        raise SpikeSciError(f"data_range must be positive, got {data_range}")
    tops = []
    for name, a in (("image", x), ("reference", ref)):
        a = as_numpy(a)
        top = float(np.nanmax(np.abs(a))) if a.size else 0.0
        if top > 2 * data_range:
            raise SpikeSciError(f"{name} values reach {top:g}, far beyond data_range {data_range:g}: give "
                                "both arrays on one scale (e.g. 8-bit values / 255 with data_range 1)")
        tops.append(top)
    if data_range > 2 and min(tops) <= 1.0 < 2.0 < max(tops):
        raise SpikeSciError(f"mixed ranges: one array lies in [0, 1], the other reaches {max(tops):g} "
                            f"(data_range {data_range:g}); scale both to one range")
