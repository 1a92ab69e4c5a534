"""Bjontegaard deltas between two rate-distortion curves (VCEG-M33, ref. [40] of the paper).

Method (the original one): fit a cubic polynomial through each curve's points, PSNR as a function of
log(rate) for BD-PSNR and log(rate) as a function of PSNR for BD-rate, integrate both fits over the range
where the curves overlap, and take the mean difference. BD-rate = (exp(mean log-rate difference) - 1) * 100.
With fewer than four points per curve the polynomial degree drops to (points - 1). This equals the
`bjontegaard` package's method="cubic" (checked in tests/test_metrics.py).

method="pchip": each curve is a monotone piecewise-cubic interpolant through its points instead (the
package's method="pchip"). One cubic least-squares fit can swing far off a curve whose points bend
sharply (a reconstruction whose PSNR saturates while the rate keeps growing): on the paradigm benchmark
it scored a curve that beats its anchor at every point as +34 % (docs/paradigms.md). PCHIP passes through
every point and never overshoots between them; it needs strictly increasing points (a Pareto front).
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


METHODS = ("cubic", "pchip")


def _area(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    if method == "cubic":
        integral = np.polyint(np.polyfit(x, y, min(3, x.size - 1)))
        return float(np.polyval(integral, hi) - np.polyval(integral, lo))
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(x)
    if np.any(np.diff(x[order]) <= 0):
        raise SpikeSciError("BD method 'pchip' needs distinct points along the curve (take its Pareto front)")
    return float(PchipInterpolator(x[order], y[order]).integrate(lo, hi))


def _mean_delta(x_a, y_a, x_t, y_t, method: str = "cubic") -> float:
    """Mean of (fit_test - fit_anchor) over the overlap of the x ranges; nan if they do not overlap."""
    if method not in METHODS:
        raise SpikeSciError(f"BD method must be one of {', '.join(METHODS)}, got '{method}'")
    lo, hi = max(x_a.min(), x_t.min()), min(x_a.max(), x_t.max())
    if hi <= lo:
        return float("nan")
    return (_area(x_t, y_t, lo, hi, method) - _area(x_a, y_a, lo, hi, method)) / (hi - lo)


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "cubic") -> float:
    """Average bit-rate change of test vs anchor at equal quality, in percent (negative = test saves bits).

    nan when the quality ranges do not overlap.
    """
    log_a, q_a = _curve(rate_anchor, psnr_anchor, "anchor")
    log_t, q_t = _curve(rate_test, psnr_test, "test")
    return float((np.exp(_mean_delta(q_a, log_a, q_t, log_t, method)) - 1.0) * 100.0)


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "cubic") -> float:
    """Average quality gain of test vs anchor at equal rate, in dB (positive = test better).

    nan when the rate ranges do not overlap.
    """
    log_a, q_a = _curve(rate_anchor, psnr_anchor, "anchor")
    log_t, q_t = _curve(rate_test, psnr_test, "test")
    return _mean_delta(log_a, q_a, log_t, q_t, method)
