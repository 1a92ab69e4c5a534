"""`spikesci pack` / `spikesci unpack` (lossless `.spkz` archives) and `spikesci bench lossless`.

One file (`-o FILE`), many (`DIR_OR_FILES... -o OUTDIR --jobs N`), or a pipe (`pack - -o out.spkz`,
`unpack in.spkz -o -`). Imports only numpy, constriction and tqdm when it runs: starting is cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spikesci.cli.common import (
    add_force_arg,
    add_size_args,
    check_output,
    check_suffix,
    parse_range,
    print_json,
)
from spikesci.errors import SpikeSciError

STDIO = "-"


def _fmt(stats: dict) -> str:
    return (
        f"{stats['frames']} frames {stats['height']}x{stats['width']}: {stats['bytes']} bytes, "
        f"{stats['bpp']:.4f} bits/spike-pixel ({stats['ratio']:.2f}x smaller than .dat), "
        f"{stats['mbps']:.1f} MB/s ({stats['mpix_s']:.1f} M spike-pixels/s)"
    )


def _is_batch(inputs: list[str], output: str) -> bool:
    """Many files when there are several inputs or a folder, or the output is a folder (an existing one,
    or a name without a suffix); otherwise one file (or a pipe)."""
    if len(inputs) > 1 or any(Path(p).is_dir() for p in inputs if p != STDIO):
        return True
    if output == STDIO:
        return False
    out = Path(output)
    return out.is_dir() or out.suffix == ""


def _batch(kind: str, args: argparse.Namespace) -> int:
    from spikesci.lossless import batch

    if STDIO in args.inputs or args.output == STDIO:
        raise SpikeSciError("'-' (a pipe) takes exactly one input and one output file")
    if args.frames if kind == "unpack" else False:
        raise SpikeSciError("--frames works on one archive at a time")
    inputs = [Path(p) for p in args.inputs]
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise SpikeSciError(f"{outdir}: several inputs need an output folder, and this is a file")
    if not outdir.exists() and outdir.suffix.lower() in (".dat", ".npz", ".spkz"):
        raise SpikeSciError(
            f"{outdir}: several inputs or a folder need an output folder, not a {outdir.suffix} file"
        )
    if kind == "pack":
        jobs = batch.plan_pack(inputs, outdir, args.force)
        opts = dict(height=args.height, width=args.width, chunk_frames=args.chunk_frames, model=args.model)
        for job in jobs:
            job.options = opts
    else:
        jobs = batch.plan_unpack(inputs, outdir, args.force)
    outdir.mkdir(parents=True, exist_ok=True)
    njobs = args.jobs if args.jobs is not None else min(2, len(jobs))
    if njobs < 1:
        raise SpikeSciError(f"--jobs must be at least 1, got {njobs}")
    rows, errors, seconds = batch.timed_run(kind, jobs, njobs, progress=True)
    if args.json:
        print_json({"files": rows, "errors": errors, "seconds": seconds})
    else:
        print(batch.summary(kind, rows, seconds))
    for line in errors:
        print(f"spikesci: error: {line}", file=sys.stderr)
    return 1 if errors else 0


def _npz_frames(path: str) -> int | None:
    """Frames of a `.npz` clip read off its array header (nothing decompressed); None if it cannot tell
    (the archive then reports what is wrong with the file)."""
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(path) as z, z.open("spk.npy") as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape = read(f)[0]
        return int(shape[0]) if shape else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _pack(args: argparse.Namespace) -> int:
    if _is_batch(args.inputs, args.output):
        return _batch("pack", args)
    from spikesci.lossless import archive

    options = dict(
        height=args.height,
        width=args.width,
        chunk_frames=args.chunk_frames,
        model=args.model,
        progress=not args.json,
        workers=args.workers,
    )
    if args.output == STDIO:
        raise SpikeSciError("pack writes an archive file: give -o OUT.spkz (a pipe is for unpack -o -)")
    src = args.inputs[0]
    check_suffix(args.output, (".spkz",), "pack writes")
    if src != STDIO and Path(src).suffix.lower() == ".npz" and _npz_frames(src) == 0:
        raise SpikeSciError(f"{src}: holds no frames (an empty spike clip): nothing to archive")
    if src == STDIO:
        out = check_output(args.output, args.force)
        stats = archive.pack(sys.stdin.buffer, out, **options)
    else:
        out = check_output(args.output, args.force, inputs=(src,))
        stats = archive.pack(src, out, **options)
    stats["input"] = str(src)
    if args.json:
        print_json(stats)
    else:
        print(f"{out}: {_fmt(stats)}")
    return 0


def _unpack(args: argparse.Namespace) -> int:
    if _is_batch(args.inputs, args.output):
        return _batch("unpack", args)
    from spikesci.lossless.fastdat import unpack_dat  # no numpy: a "mix" archive back to .dat

    src = args.inputs[0]
    if src == STDIO:
        raise SpikeSciError("unpack reads an archive file (it needs its index): give IN.spkz, not '-'")
    frames = parse_range(args.frames)
    if args.output == STDIO:
        out, report = "-", sys.stderr  # standard output carries the frames
        dst = sys.stdout.buffer
    else:
        out = dst = check_output(args.output, args.force, inputs=(src,))
        report = sys.stdout
    opts = dict(frames=frames, progress=not args.json, workers=args.workers)
    stats = unpack_dat(src, dst, **opts)
    if stats is None:
        from spikesci.lossless import archive

        stats = archive.unpack_general(src, dst, **opts)
    stats["input"] = str(src)
    if args.json:
        if report is sys.stdout:
            print_json(stats)
        else:
            print(json.dumps(stats), file=report)
    else:
        a, b = stats["frame_range"]
        print(
            f"{out}: frames {a}:{b} of {stats['archive_frames']}, decoded at {stats['mbps']:.1f} MB/s "
            f"({stats['mpix_s']:.1f} M spike-pixels/s)",
            file=report,
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from spikesci.lossless.bench import main as bench_main

    argv = ["--frames", str(args.frames), "--runs", str(args.runs)]
    if args.quick:
        argv.append("--quick")
    if args.out:
        argv += ["--out", args.out]
    return bench_main(argv)


def _add_parallel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes coding one file's chunks in parallel (default: 2 for large files)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="files coded at once when given several (default: 2)"
    )


def register(commands, bench) -> None:
    p = commands.add_parser(
        "pack",
        help="archive .dat/.npz spike files losslessly (.spkz)",
        description="Lossless context-model archive of spike files; unpack restores a .dat byte for byte. "
        "One file: pack IN -o OUT.spkz; many: pack DIR_OR_FILES... -o OUTDIR --jobs N; "
        "a pipe of raw .dat frames: pack - -o OUT.spkz --height H --width W.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="IN.dat, IN.npz, a folder of them, or - (stdin)")
    p.add_argument("-o", "--output", required=True, help="OUT.spkz, or an output folder for several inputs")
    add_size_args(p)
    p.add_argument(
        "--chunk-frames",
        type=int,
        default=100,
        help="frames per independently decodable chunk (100): smaller = faster random access, larger files",
    )
    p.add_argument(
        "--model",
        choices=("mix", "ctx", "simple"),
        default=None,
        help="context model: mix (default where its compiled coder is built, else ctx), ctx (the numpy "
        "model of format 2) or the simple ISI baseline",
    )
    p.add_argument("--json", action="store_true", help="print stats as JSON (bytes, bpp, MB/s)")
    _add_parallel(p)
    add_force_arg(p)
    p.set_defaults(func=_pack)

    u = commands.add_parser(
        "unpack",
        help="decode .spkz archives to .dat or .npz",
        description="Decode a .spkz archive (optionally only frames A:B); many: unpack DIR_OR_FILES... "
        "-o OUTDIR --jobs N; to standard output as raw .dat bytes: unpack IN.spkz -o -.",
    )
    u.add_argument("inputs", nargs="+", metavar="IN", help="IN.spkz or a folder of them")
    u.add_argument("-o", "--output", required=True, help="OUT.dat, OUT.npz, - (stdout), or an output folder")
    u.add_argument("--frames", default=None, metavar="A:B", help="decode only frames A..B-1")
    u.add_argument("--json", action="store_true", help="print stats as JSON")
    _add_parallel(u)
    add_force_arg(u)
    u.set_defaults(func=_unpack)

    b = bench.add_parser("lossless", help="lossless archive vs xz/zstd/gzip, whole-process times")
    b.add_argument("--frames", type=int, default=0, help="frames per clip (0 = all)")
    b.add_argument("--runs", type=int, default=3, help="rounds; medians are reported (3)")
    b.add_argument("--quick", action="store_true", help="one small synthetic clip, one round (seconds)")
    b.add_argument("--out", default=None, help="also write the JSON to this file")
    b.set_defaults(func=_bench)
