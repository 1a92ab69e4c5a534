"""`spikesci encode` / `spikesci decode` (.sci feature streams) and `spikesci bench codec`.

Registering these parsers imports no torch (the constants come from sci_header.py), so `--help` and argument
errors answer at once; the codec is loaded only to encode or decode."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikesci.cli.common import (
    add_force_arg,
    add_size_args,
    check_folder,
    check_input,
    check_output,
    check_size,
    check_suffix,
    print_json,
    save_png,
    show_progress,
    white_rate_arg,
)
from spikesci.errors import SpikeSciError

TASKS = ("reconstruct", "classify")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi")


def register(commands, bench) -> None:
    from spikesci.sci_header import CONVENTIONAL, DEFAULT_GOP, DEFAULT_QUALITY, MOTION_MODES, QUALITIES

    p = commands.add_parser(
        "encode", help="spikes -> .sci learned feature stream (lossy, for machines)",
        description="Extract features from a spike clip (FEM) and code them with the learned codec into a "
        ".sci file. Qualities: " + ", ".join(map(str, QUALITIES)) + " (higher = better and bigger).")
    p.add_argument("input", help="spike file (.dat or .npz)")
    p.add_argument("-o", "--output", required=True, help="output .sci file")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, choices=QUALITIES,
                   help=f"rate point ({DEFAULT_QUALITY})")
    p.add_argument("--gop", type=int, default=None,
                   help=f"feature maps per group of pictures (random-access period), 1..255 (default "
                        f"{DEFAULT_GOP} for the learned codec, 32 for x265 and svt-av1)")
    p.add_argument("--motion", choices=MOTION_MODES, default="rdo",
                   help="motion coding: rdo = cheapest per map of learned vector fields, one global "
                        "translation, or skip (default; stream format 2; 23-54%% fewer bytes at quality 1 "
                        "measured), local = block matching only (format 1, about 2.5x faster encoding)")
    p.add_argument("--model", default=None, help="codec: shipped name or a codec .pt file (default: sci)")
    p.add_argument("--codec", choices=("learned", *CONVENTIONAL), default="learned",
                   help="learned = the learned feature codec (default); x265 / svt-av1 = the FEM's maps "
                   "decorrelated (KLT), as 10-bit (x265) or 8-bit (SVT-AV1) planes (CAAS via a conventional "
                   "codec, 7-14x fewer bits); all code release 3.4's FEM and decode with `spikesci decode`")
    p.add_argument("--cover", choices=("windows", "clip"), default="windows",
                   help="where feature maps go: windows = only where a map's whole window of spike frames is "
                   "inside the clip (default; the first and last ~20 frames get no picture), clip = "
                   "every stride frames from the start, so decode has a picture for every part of the clip "
                   "(windows mirrored at the ends; a map or two more)")
    p.add_argument("--at", type=int, default=None, metavar="FRAME",
                   help="shift the maps so that one lies on this spike frame (e.g. a ground-truth "
                   "frame); by default they lie every stride frames from the first whole window, and "
                   "`decode --frame` takes the nearest, up to stride / 2 frames away")
    add_size_args(p)
    add_force_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON object (bytes, bpp, seconds, ...)")
    p.set_defaults(func=run_encode)

    d = commands.add_parser(
        "decode", help=".sci -> images (or other task outputs) straight from the decoded features",
        description="Decode a .sci stream and run a task on the decoded features. OUT is a folder (one PNG "
        "per feature map, frame_NNNNNN.png named by spike frame), OUT.png (the map nearest --frame), "
        "OUT.npz (images, frames, features, flows) or OUT.mp4/.mkv/.avi (a video). Coverage: the encoder "
        "places one feature map every stride (20) spike frames where its whole window of spike frames (20 "
        "before, 20 after: release 3.4's FEM) lies inside the clip, so each picture stands for the ~20 "
        "frames around its map and a clip's first and last ~20 frames have none of their own (encode "
        "--cover clip places maps over the whole clip); the JSON summary gives 'covered' (first and last "
        "map frame), 'clip_frames' and 'stride'.")
    d.add_argument("input", help=".sci file")
    d.add_argument("-o", "--output", default=None,
                   help="folder, OUT.png, OUT.npz or a video (needed for reconstruct; optional for classify)")
    d.add_argument("--task", default="reconstruct", help="reconstruct (default) or classify")
    d.add_argument("--frame", type=int, default=None,
                   help="spike frame for a single OUT.png, 0..frames-1 of the clip (the nearest map is used)")
    d.add_argument("--model", default=None,
                   help="reconstruct: codec .pt file (default: the one named in the stream); classify: the "
                   "head, s-digits (default), s-animals, s-natural or a .pt checkpoint")
    d.add_argument("--codec", default=None, help="codec .pt file or shipped name (default: the stream's)")
    d.add_argument("--flows", choices=("codec", "fam"), default=None,
                   help="reconstruct: motion for the FAM, decoded FMVR-refined vectors (codec, default) or "
                   "the FAM's own estimate (fam)")
    d.add_argument("--precision", choices=("float32", "float64"), default=None,
                   help="reconstruct: arithmetic of the network that makes the pictures: float32 (default) "
                   "runs it on one thread so pictures are identical whatever the thread count; float64 also "
                   "makes them identical across CPU kinds, about 6x slower")
    d.add_argument("--white-rate", type=white_rate_arg, default="auto",
                   help="reconstruct: spikes per frame at full white in (0, 1], or 'auto' (default): the "
                   "exposure the encoder measured on the clip (recorded in the stream)")
    add_force_arg(d)
    d.add_argument("--json", action="store_true", help="print a JSON summary")
    d.set_defaults(func=run_decode)

    b = bench.add_parser("codec", help="rate-distortion of the learned codec vs lossless baselines",
                         description="RD curve (bpp from file sizes vs PSNR of decoded reconstructions) on "
                         "held-out simulated scenes and spike-REDS, next to lossless baselines and the "
                         "uncompressed network; seconds and FLOPs per map, end vs cloud side.")
    b.add_argument("--quick", action="store_true", help="one small scene per kind (seconds, for checks)")
    b.add_argument("--json", dest="json_out", help="write the results to this JSON file")
    b.add_argument("--plot", help="write the RD plot to this PNG")
    b.add_argument("--model", default=None, help="codec .pt file (default: shipped)")
    b.set_defaults(func=run_bench)


def run_encode(args: argparse.Namespace) -> int:
    src = check_input(args.input)
    check_suffix(src, (".dat", ".npz"), "encode reads")
    check_suffix(args.output, (".sci",), "encode writes")
    check_size(args.height, args.width)
    if args.gop is not None and not 1 <= args.gop <= 255:
        raise SpikeSciError(f"--gop must be 1..255, got {args.gop}")
    if args.codec != "learned" and args.model not in (None, args.codec):
        raise SpikeSciError(f"--codec {args.codec} uses the release-3 FEM; --model names a learned codec "
                            "(drop one)")
    out = check_output(args.output, args.force, inputs=(src,))
    from spikesci.sci import encode_file

    model = args.model if args.codec == "learned" else args.codec
    stats = encode_file(src, out, args.quality, args.height, args.width, model=model,
                        progress=show_progress(args.json), gop=args.gop, motion=args.motion,
                        cover=args.cover, at=args.at)
    if args.json:
        print_json(stats)
    else:
        print(f"{out}: {stats['bytes']} bytes, {stats['bpp']:.4f} bpp, {stats['ratio_raw']:.1f}x smaller "
              f"than raw 1-bit frames, {stats['maps']} feature maps in {stats['gops']} GOPs, "
              f"quality {stats['quality']}, {stats['seconds']:.2f} s")
    return 0


def _save_video(path: Path, frames, summary: dict, fps: int = 25) -> None:
    """Write (frame, image) pairs as they come (streamed)."""
    import av
    import numpy as np

    container = av.open(str(path), "w")
    stream = None
    try:
        for f, img in frames:
            h, w = img.shape
            if stream is None:
                stream = container.add_stream("mpeg4", rate=fps)
                stream.width, stream.height = w + w % 2, h + h % 2
                stream.pix_fmt = "yuv420p"
            summary["frames"].append(int(f))
            g = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
            g = np.pad(g, ((0, h % 2), (0, w % 2)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.repeat(g[..., None], 3, -1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        container.close()


def _check_decode(args: argparse.Namespace) -> tuple[Path, Path | None, str, dict]:
    """Every check of `decode` before any decoding: (input, output or None, output suffix, header)."""
    from spikesci.sci_header import stream_header

    src = check_input(args.input)
    check_suffix(src, (".sci",), "decode reads")
    if args.task not in TASKS:
        raise SpikeSciError(f"--task: unknown task '{args.task}' (available: {', '.join(TASKS)})")
    out = None if args.output is None else Path(args.output)
    if out is None and args.task == "reconstruct":
        raise SpikeSciError("decode --task reconstruct needs -o OUT (folder, OUT.png, OUT.npz or video)")
    suffix = "" if out is None else out.suffix.lower()
    if out is not None:
        check_suffix(out, (".png", ".npz", *VIDEO_SUFFIXES, ""), "decode writes")
    if args.task == "classify":
        if out is not None and suffix not in (".npz", ""):
            raise SpikeSciError(f"{out}: task 'classify' makes no pictures: write OUT.npz or a folder")
        if args.frame is not None:
            raise SpikeSciError("--frame applies to --task reconstruct only")
        for flag, value in (("--white-rate", None if args.white_rate == "auto" else args.white_rate),
                            ("--flows", args.flows), ("--precision", args.precision)):
            if value is not None:
                raise SpikeSciError(f"{flag} applies to --task reconstruct only")
    args.flows = args.flows or "codec"
    args.precision = args.precision or "float32"
    if args.frame is not None and suffix != ".png":
        raise SpikeSciError("--frame picks the picture of OUT.png; the other outputs hold every map")
    hd, _ = stream_header(src)
    if args.frame is not None and not 0 <= args.frame < hd["frames"]:
        raise SpikeSciError(f"--frame {args.frame} is outside the clip (valid: 0..{hd['frames'] - 1})")
    if out is not None:
        if suffix == "":
            check_folder(out, args.force, inputs=(src,))
        else:
            check_output(out, args.force, inputs=(src,))
    return src, out, suffix, hd


def _white_rate(args: argparse.Namespace, hd: dict, first_image) -> tuple[float, str]:
    """(white rate, how it was chosen): fixed, measured on the clip by the encoder, or (old streams that
    did not record it) read off the first decoded picture."""
    from spikesci.reconstruct.exposure import auto_white_rate_from_image
    from spikesci.simulate.camera import DEFAULT_WHITE_RATE

    if args.white_rate != "auto":
        return float(args.white_rate), "fixed"
    if isinstance(hd.get("white_rate"), (int, float)) and 0 < hd["white_rate"] <= 1:
        return float(hd["white_rate"]), "auto (measured by the encoder)"
    return auto_white_rate_from_image(first_image, DEFAULT_WHITE_RATE), "auto (from the first picture)"


def _coverage(hd: dict) -> dict:
    mf = hd["map_frames"]
    return {"clip_frames": hd["frames"], "covered": [int(mf[0]), int(mf[-1])] if mf else None,
            "stride": hd["stride"]}


def run_decode(args: argparse.Namespace) -> int:
    import numpy as np

    src, out, suffix, hd = _check_decode(args)
    codec = args.codec or (args.model if args.task == "reconstruct" else None)
    head = args.model if args.task == "classify" else None
    progress = show_progress(args.json)
    if args.task == "classify":
        from spikesci.sci import decode_file

        result = decode_file(src, task="classify", model=codec, flows=args.flows, options={"model": head})
        summary = {"input": str(src), "task": args.task, "maps": int(len(result.frames)), **_coverage(hd),
                   **{k: v for k, v in result.outputs.items() if isinstance(v, (int, float, str, list))}}
        if out is not None:
            summary["output"] = str(out)
            arrays = {"frames": result.frames, "features": result.features, "flows": result.flows}
            target = out if suffix == ".npz" else out / "outputs.npz"
            if suffix == "":
                out.mkdir(exist_ok=True)
            np.savez_compressed(target, **arrays)
        return _report(summary, args, out or src)
    summary = {"input": str(src), "output": str(out), "task": args.task, "frames": [], **_coverage(hd)}
    if suffix == ".npz":
        from spikesci.reconstruct.exposure import apply_gain
        from spikesci.sci import decode_file
        from spikesci.simulate.camera import DEFAULT_WHITE_RATE

        result = decode_file(src, task="reconstruct", model=codec, flows=args.flows, progress=progress,
                             precision=args.precision)
        white, how = _white_rate(args, hd, result.images[0] if len(result.images) else np.zeros((1, 1)))
        images = apply_gain(result.images, DEFAULT_WHITE_RATE, white)
        np.savez_compressed(out, frames=result.frames, features=result.features, flows=result.flows,
                            images=images)
        summary["frames"] = [int(f) for f in result.frames]
    else:
        white, how = _stream_pictures(args, src, out, suffix, hd, codec, progress, summary)
    summary.update(maps=len(summary["frames"]), white_rate=white, white_rate_mode=how,
                   precision=args.precision)
    return _report(summary, args, out)


def _stream_pictures(args, src: Path, out: Path, suffix: str, hd: dict, codec, progress: bool,
                     summary: dict) -> tuple[float, str]:
    """PNG(s) or a video, map by map (bounded memory on long clips), with a per-map bar and ETA."""
    import numpy as np

    from spikesci.progress import progress_bar
    from spikesci.reconstruct.exposure import apply_gain
    from spikesci.sci import iter_images
    from spikesci.simulate.camera import DEFAULT_WHITE_RATE

    frames = hd["map_frames"]
    if not frames:
        raise SpikeSciError(f"{src}: the stream holds no feature maps")
    exposure: list = []

    def pictures(bar, only=None):
        for f, img in iter_images(src, codec, args.flows, precision=args.precision, only=only):
            if not exposure:
                exposure.extend(_white_rate(args, hd, img))
            bar.update(1)
            yield f, apply_gain(img, DEFAULT_WHITE_RATE, exposure[0])

    if suffix == ".png":
        target = frames[len(frames) // 2] if args.frame is None else args.frame
        k = int(np.argmin(np.abs(np.asarray(frames) - target)))
        with progress_bar(1, "decode", "map", enabled=progress) as bar:
            for f, img in pictures(bar, only={k}):  # maps before it are decoded, no picture made for them
                save_png(out, img)
                summary["frames"].append(int(f))
    elif suffix:
        tmp = out.with_name(out.stem + ".part" + out.suffix)
        try:
            with progress_bar(len(frames), "decode", "map", enabled=progress) as bar:
                _save_video(tmp, pictures(bar), summary)
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        created = not out.exists()
        out.mkdir(exist_ok=True)
        written = []
        try:
            with progress_bar(len(frames), "decode", "map", enabled=progress) as bar:
                for f, img in pictures(bar):
                    written.append(out / f"frame_{int(f):06d}.png")
                    save_png(written[-1], img)
                    summary["frames"].append(int(f))
        except BaseException:  # a damaged later chunk: leave no half-decoded sequence behind
            for p in written:
                p.unlink(missing_ok=True)
            if created and not any(out.iterdir()):
                out.rmdir()  # the folder this command made: gone too
            raise
    return exposure[0], exposure[1]


def _report(summary: dict, args: argparse.Namespace, where: Path) -> int:
    """Print the decode summary: JSON, or a line (plus the label of a classification)."""
    if args.json:
        print_json(summary)
        return 0
    covered = summary.get("covered")
    span = f", spike frames {covered[0]}..{covered[1]} of 0..{summary['clip_frames'] - 1}" if covered else ""
    print(f"{where}: {summary['maps']} maps decoded ({args.task}{span})")
    asked, got = getattr(args, "frame", None), summary.get("frames") or []
    if asked is not None and len(got) == 1 and got[0] != asked:
        print(f"picture of spike frame {got[0]}, the map nearest --frame {asked} (maps every "
              f"{summary.get('stride')} frames; `encode --at {asked}` puts one on it)")
    if "white_rate" in summary:
        print(f"white rate {summary['white_rate']:.4g} ({summary['white_rate_mode']})")
    if "label" in summary:
        print(f"label {summary['label']} ({summary.get('label_name', '')}) by {summary.get('model', '')}, "
              f"p={summary.get('confidence', 0):.3f}")
        if summary.get("low_confidence"):
            print(f"low confidence: {summary.get('warning', '')}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from spikesci.models.codec.bench import run_benchmark

    result = run_benchmark(quick=args.quick, json_path=args.json_out, plot_path=args.plot, model=args.model)
    print_json(result) if not args.json_out else None
    return 0
