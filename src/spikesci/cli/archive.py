"""`spikesci pack` / `spikesci unpack` (lossless `.spkz` archives) and `spikesci bench lossless`."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikesci.cli.common import add_force_arg, add_size_args, check_output, parse_range, print_json


def _fmt(stats: dict) -> str:
    return (
        f"{stats['frames']} frames {stats['height']}x{stats['width']}: {stats['bytes']} bytes, "
        f"{stats['bpp']:.4f} bits/spike-pixel ({stats['ratio']:.2f}x smaller than .dat), "
        f"{stats['mbps']:.1f} MB/s ({stats['mpix_s']:.1f} M spike-pixels/s)"
    )


def _pack(args: argparse.Namespace) -> int:
    from spikesci.lossless import pack

    out = check_output(args.output, args.force, inputs=(args.input,))
    stats = pack(
        args.input,
        out,
        height=args.height,
        width=args.width,
        chunk_frames=args.chunk_frames,
        model=args.model,
        progress=not args.json,
        workers=args.workers,
    )
    stats["input"] = str(args.input)
    if args.json:
        print_json(stats)
    else:
        print(f"{out}: {_fmt(stats)}")
    return 0


def _unpack(args: argparse.Namespace) -> int:
    from spikesci.lossless import unpack

    out = check_output(args.output, args.force, inputs=(args.input,))
    stats = unpack(
        args.input, out, frames=parse_range(args.frames), progress=not args.json, workers=args.workers
    )
    stats["input"] = str(args.input)
    if args.json:
        print_json(stats)
    else:
        a, b = stats["frame_range"]
        print(
            f"{out}: frames {a}:{b} of {stats['archive_frames']}, decoded at {stats['mbps']:.1f} MB/s "
            f"({stats['mpix_s']:.1f} M spike-pixels/s)"
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from spikesci.lossless.bench import main as bench_main

    argv = ["--frames", str(args.frames)]
    if args.quick:
        argv.append("--quick")
    if args.out:
        argv += ["--out", args.out]
    return bench_main(argv)


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=int, default=None, help="processes coding chunks in parallel (default: up to 2)"
    )


def register(commands, bench) -> None:
    p = commands.add_parser(
        "pack",
        help="archive a .dat/.npz spike file losslessly (.spkz)",
        description="Lossless context-model archive of a spike file; unpack restores the .dat byte for byte.",
    )
    p.add_argument("input", type=Path, help="IN.dat or IN.npz")
    p.add_argument("-o", "--output", required=True, type=Path, help="OUT.spkz")
    add_size_args(p)
    p.add_argument(
        "--chunk-frames", type=int, default=512, help="frames per independently decodable chunk (512)"
    )
    p.add_argument(
        "--model",
        choices=("ctx", "simple"),
        default="ctx",
        help="context model: ctx (default) or the simple ISI baseline",
    )
    p.add_argument("--json", action="store_true", help="print stats as JSON (bytes, bpp, MB/s)")
    _add_workers(p)
    add_force_arg(p)
    p.set_defaults(func=_pack)

    u = commands.add_parser(
        "unpack",
        help="decode a .spkz archive to .dat or .npz",
        description="Decode a .spkz archive (optionally only frames A:B).",
    )
    u.add_argument("input", type=Path, help="IN.spkz")
    u.add_argument("-o", "--output", required=True, type=Path, help="OUT.dat or OUT.npz")
    u.add_argument("--frames", default=None, metavar="A:B", help="decode only frames A..B-1")
    u.add_argument("--json", action="store_true", help="print stats as JSON")
    _add_workers(u)
    add_force_arg(u)
    u.set_defaults(func=_unpack)

    b = bench.add_parser("lossless", help="lossless archive vs xz/zstd/bz2/order-0/simple ISI model")
    b.add_argument("--frames", type=int, default=0, help="frames per clip (0 = all)")
    b.add_argument("--quick", action="store_true", help="small clips only (seconds)")
    b.add_argument("--out", default=None, help="also write the JSON to this file")
    b.set_defaults(func=_bench)
