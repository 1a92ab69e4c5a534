"""`spikesci score A.png B.png`: how close a reconstruction is to a ground-truth picture (PSNR, SSIM), so a
user need not write Python for it. Both pictures are read as grey levels on their own bit depth's scale
(8-bit / 255, 16-bit / 65535) and compared in [0, 1], as every spikesci benchmark does."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikesci.cli.common import IMAGE_SUFFIXES, check_input, check_suffix, print_json
from spikesci.errors import SpikeSciError


def register(commands, bench) -> None:
    p = commands.add_parser(
        "score", help="PSNR and SSIM of a picture against a ground-truth picture",
        description="Score picture A (e.g. a reconstruction) against picture B (the ground truth): PSNR in "
        "dB (MSE over all pixels) and SSIM (Gaussian window, sigma 1.5, as published), both on grey levels "
        "in [0, 1]. Colour pictures are converted to grey (ITU-R 601 luma). Sizes must match.")
    p.add_argument("image", help="picture to score (.png, .jpg, .tif, .bmp)")
    p.add_argument("reference", help="ground-truth picture of the same size")
    p.add_argument("--json", action="store_true", help="print a JSON object (psnr, ssim, ...)")
    p.set_defaults(func=run_score)


def read_grey01(path: str | Path):
    """A picture as float64 grey levels in [0, 1], scaled by its own bit depth."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    path = check_input(path)
    check_suffix(path, IMAGE_SUFFIXES, "score reads")
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                full = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
                return arr / full
            if im.mode == "F":
                return np.asarray(im, dtype=np.float64)
            return np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise SpikeSciError(f"{path}: not a readable image ({exc})") from None


def run_score(args: argparse.Namespace) -> int:
    from spikesci.metrics import psnr, ssim

    a, b = read_grey01(args.image), read_grey01(args.reference)
    if a.shape != b.shape:
        raise SpikeSciError(f"{args.image} is {a.shape[1]}x{a.shape[0]} but {args.reference} is "
                            f"{b.shape[1]}x{b.shape[0]}: score pictures of the same size")
    result = {"image": str(args.image), "reference": str(args.reference), "height": a.shape[0],
              "width": a.shape[1], "psnr": psnr(a, b), "ssim": ssim(a, b) if min(a.shape) >= 11 else None,
              "mean_abs_error": float(abs(a - b).mean())}
    if args.json:
        print_json({k: (None if isinstance(v, float) and v == float("inf") else v) for k, v in result.items()}
                   | {"identical": result["psnr"] == float("inf")})
        return 0
    ssim_text = f"{result['ssim']:.4f}" if result["ssim"] is not None else "n/a (smaller than 11x11)"
    print(f"{args.image} vs {args.reference}: PSNR {result['psnr']:.2f} dB, SSIM {ssim_text}, "
          f"mean abs error {result['mean_abs_error']:.4f}")
    return 0
