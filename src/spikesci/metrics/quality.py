"""Image quality against a ground truth: PSNR and SSIM, on luminance in [0, data_range].

SSIM is the original Wang et al. (2004) definition as scikit-image computes it with
`gaussian_weights=True, sigma=1.5, use_sample_covariance=False` (11x11 Gaussian window, K1=0.01, K2=0.03),
with an explicit `data_range` (1 for our [0, 1] luminance), so results match the usual published numbers.
"""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError
from spikesci.metrics._arrays import check_range, same_shape


def psnr(x, ref, data_range: float = 1.0) -> float:
    """PSNR in dB, 10 log10(data_range^2 / MSE) with the MSE over the whole array (inf when identical).

    Both arrays must lie in [0, data_range]: a float picture in [0, 1] against an 8-bit one in [0, 255]
    is refused (it would give a meaningless -40 dB), so is an 8-bit pair at the default data_range 1."""
    check_range(x, ref, data_range)
    x, ref = same_shape(x, ref)
    mse = float(np.mean((x - ref) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(x, ref, data_range: float = 1.0) -> float:
    """Mean SSIM (Gaussian-weighted, sigma 1.5, see module doc) of (H, W) images.

    Stacks (..., H, W), e.g. (T, H, W) or (B, C, H, W), give the mean of the per-image SSIMs.
    """
    from skimage.metrics import structural_similarity

    check_range(x, ref, data_range)
    x, ref = same_shape(x, ref)
    if x.ndim < 2:
        raise SpikeSciError(f"SSIM needs images of shape (..., H, W), got {x.shape}")
    if min(x.shape[-2:]) < 11:  # the 11x11 Gaussian window must fit
        raise SpikeSciError(f"SSIM needs images of at least 11x11 pixels, got {x.shape[-2]}x{x.shape[-1]}")
    flat_x = x.reshape(-1, *x.shape[-2:])
    flat_ref = ref.reshape(-1, *ref.shape[-2:])
    scores = [
        structural_similarity(
            a, b, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for a, b in zip(flat_x, flat_ref)
    ]
    return float(np.mean(scores))
