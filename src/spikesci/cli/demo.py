"""`spikesci demo`: the end-to-end demonstration (logic in spikesci.demo)."""

from __future__ import annotations

import argparse
import dataclasses


def register(commands, bench) -> None:
    p = commands.add_parser(
        "demo", help="simulate, write, reconstruct and code a spike clip; print a table, write a PNG",
        description="Simulate a spike clip from a held-out bundled image with motion, write it as .dat, "
        "reconstruct it (TFP, TFI), code it losslessly, print bpp / PSNR / SSIM / seconds and write a PNG "
        "beside the ground truth. Files in --out are overwritten.")
    p.add_argument("--out", default="demo_out", help="folder for demo.dat/.png/.json (demo_out)")
    p.add_argument("--image", default="camera", help="bundled image (camera)")
    p.add_argument("--frames", type=int, default=160, help="spike frames (160)")
    p.add_argument("--motion", choices=("none", "slow", "fast"), default="slow", help="motion (slow)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikesci.demo import DemoConfig, run_demo
    from spikesci.errors import SpikeSciError

    if args.frames < 1:
        raise SpikeSciError(f"--frames must be at least 1, got {args.frames}")
    from pathlib import Path

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise SpikeSciError(f"{args.out}: exists and is not a folder")
    if not Path(args.out).resolve().parent.exists():
        raise SpikeSciError(f"{Path(args.out).parent}: output folder does not exist")
    config = dataclasses.replace(DemoConfig(), image=args.image, frames=args.frames, motion=args.motion,
                                 seed=args.seed)
    import sys

    run_demo(args.out, config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    return 0
