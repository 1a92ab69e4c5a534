"""Bjontegaard deltas between two rate-distortion curves (VCEG-M33, ref. [40] of the paper).

Method (the original one): fit a cubic polynomial through each curve's points, PSNR as a function of
log(rate) for BD-PSNR and log(rate) as a function of PSNR for BD-rate, integrate both fits over the range
where the curves overlap, and take the mean difference. BD-rate = (exp(mean log-rate difference) - 1) * 100.
With fewer than four points per curve the polynomial degree drops to (points - 1). This equals the
`bjontegaard` package's method="cubic" (checked in tests/test_metrics.py).
"""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError


def _curve(rate, quality, name: str) -> tuple[np.ndarray, np.ndarray]:
    rate = np.asarray(rate, dtype=np.float64).ravel()
    quality = np.asarray(quality, dtype=np.float64).ravel()
    if rate.shape != quality.shape:
        raise SpikeSciError(f"{name} curve: {rate.size} rates but {quality.size} quality values")
    if rate.size < 2:
        raise SpikeSciError(f"{name} curve needs at least 2 rate-distortion points, got {rate.size}")
    if np.any(rate <= 0) or not np.all(np.isfinite(rate)) or not np.all(np.isfinite(quality)):
        raise SpikeSciError(f"{name} curve: rates must be positive and all values finite")
    return np.log(rate), quality


def _mean_delta(x_a, y_a, x_t, y_t) -> float:
    """Mean of (fit_test - fit_anchor) over the overlap of the x ranges; nan if they do not overlap."""
    lo, hi = max(x_a.min(), x_t.min()), min(x_a.max(), x_t.max())
    if hi <= lo:
        return float("nan")
    areas = []
    for x, y in ((x_a, y_a), (x_t, y_t)):
        integral = np.polyint(np.polyfit(x, y, min(3, x.size - 1)))
        areas.append(np.polyval(integral, hi) - np.polyval(integral, lo))
    return float((areas[1] - areas[0]) / (hi - lo))


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Average bit-rate change of test vs anchor at equal quality, in percent (negative = test saves bits).

    nan when the quality ranges do not overlap.
    """
    log_a, q_a = _curve(rate_anchor, psnr_anchor, "anchor")
    log_t, q_t = _curve(rate_test, psnr_test, "test")
    return float((np.exp(_mean_delta(q_a, log_a, q_t, log_t)) - 1.0) * 100.0)


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Average quality gain of test vs anchor at equal rate, in dB (positive = test better).

    nan when the rate ranges do not overlap.
    """
    log_a, q_a = _curve(rate_anchor, psnr_anchor, "anchor")
    log_t, q_t = _curve(rate_test, psnr_test, "test")
    return _mean_delta(log_a, q_a, log_t, q_t)
