"""Metrics: image quality (PSNR, SSIM), rate (bpp), Bjontegaard deltas, accuracy, feature smoothness.

Inputs may be numpy arrays or torch tensors; every metric returns a Python float (or a pair).
"""

from spikesci.metrics.bjontegaard import bd_psnr, bd_rate
from spikesci.metrics.classification import accuracy
from spikesci.metrics.features import laplacian, laplacian_norms
from spikesci.metrics.quality import psnr, ssim
from spikesci.metrics.rate import bpp

__all__ = ["accuracy", "bd_psnr", "bd_rate", "bpp", "laplacian", "laplacian_norms", "psnr", "ssim"]
