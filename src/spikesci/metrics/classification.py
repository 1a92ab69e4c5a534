"""Classification accuracy, for the spike-classification task (paper Tables VI-VII)."""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError
from spikesci.metrics._arrays import as_numpy


def accuracy(pred, labels) -> float:
    """Fraction in [0, 1] of correct predictions.

    `pred` is either class indices (N,) or scores/logits (N, K), whose argmax over K is the prediction;
    numpy arrays or torch tensors.
    """
    p, y = as_numpy(pred), as_numpy(labels).ravel()
    if p.ndim == 2:
        p = p.argmax(axis=1)
    p = p.ravel()
    if p.size != y.size:
        raise SpikeSciError(f"{p.size} predictions but {y.size} labels")
    if y.size == 0:
        raise SpikeSciError("accuracy of no samples is undefined")
    return float(np.mean(p == y))
