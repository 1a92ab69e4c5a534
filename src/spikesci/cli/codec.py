"""`spikesci encode` / `spikesci decode` (.sci feature streams) and `spikesci bench codec`."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spikesci.cli.common import add_force_arg, add_size_args, check_output, print_json
from spikesci.errors import SpikeSciError


def register(commands, bench) -> None:
    from spikesci.sci import DEFAULT_GOP, DEFAULT_QUALITY, MOTION_MODES, QUALITIES

    p = commands.add_parser(
        "encode", help="spikes -> .sci learned feature stream (lossy, for machines)",
        description="Extract features from a spike clip (FEM) and code them with the learned codec into a "
        ".sci file. Qualities: " + ", ".join(map(str, QUALITIES)) + " (higher = better and bigger).")
    p.add_argument("input", help="spike file (.dat or .npz)")
    p.add_argument("-o", "--output", required=True, help="output .sci file")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, choices=QUALITIES,
                   help=f"rate point ({DEFAULT_QUALITY})")
    p.add_argument("--gop", type=int, default=DEFAULT_GOP,
                   help=f"feature maps per group of pictures ({DEFAULT_GOP})")
    p.add_argument("--motion", choices=MOTION_MODES, default="rdo",
                   help="motion coding: rdo = cheapest per map of learned vector fields, one global "
                        "translation, or skip (default; stream format 2; 23-54%% fewer bytes at quality 1 "
                        "measured), local = block matching only (format 1, about 2.5x faster encoding)")
    p.add_argument("--model", default=None, help="codec: shipped name or a codec .pt file (default: sci)")
    add_size_args(p)
    add_force_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON object (bytes, bpp, seconds, ...)")
    p.set_defaults(func=run_encode)

    d = commands.add_parser(
        "decode", help=".sci -> images (or other task outputs) straight from the decoded features",
        description="Decode a .sci stream and run a task on the decoded features. OUT is a folder (one PNG "
        "per feature map, frame_NNNNNN.png named by spike frame), OUT.png (the frame nearest --frame), "
        "OUT.npz (images, frames, features, flows) or OUT.mp4 (a video).")
    d.add_argument("input", help=".sci file")
    d.add_argument("-o", "--output", default=None,
                   help="folder, OUT.png, OUT.npz or OUT.mp4 (needed for reconstruct; optional for classify)")
    d.add_argument("--task", default="reconstruct", help="reconstruct (default) or classify")
    d.add_argument("--frame", type=int, default=None, help="spike frame for a single PNG (nearest map)")
    d.add_argument("--model", default=None, help="codec .pt file (default: the one named in the stream)")
    d.add_argument("--flows", choices=("codec", "fam"), default="codec",
                   help="motion for the FAM: decoded FMVR-refined vectors (codec) or the FAM's own estimate")
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
    from spikesci.sci import encode_file

    src = Path(args.input)
    if not src.exists():
        raise SpikeSciError(f"{src}: no such file")
    out = check_output(args.output, args.force, inputs=(src,))
    if not 1 <= args.gop <= 255:
        raise SpikeSciError("--gop must be 1..255")
    stats = encode_file(src, out, args.quality, args.height, args.width, model=args.model,
                        progress=not args.json, gop=args.gop, motion=args.motion)
    if args.json:
        print_json(stats)
    else:
        print(f"{out}: {stats['bytes']} bytes, {stats['bpp']:.4f} bpp, {stats['ratio_raw']:.1f}x smaller "
              f"than raw 1-bit frames, {stats['maps']} feature maps in {stats['gops']} GOPs, "
              f"quality {stats['quality']}, {stats['seconds']:.2f} s")
    return 0


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="L").save(path)


def _map_frames(path: Path) -> list[int]:
    from spikesci.io.container import ContainerReader
    from spikesci.sci import KIND, MAGIC, VERSION, read_header

    with ContainerReader(path, MAGIC, (VERSION,), KIND) as reader:
        return read_header(reader)["map_frames"]


def _save_video(path: Path, frames, summary: dict, fps: int = 25) -> None:
    """Write (frame, image) pairs as they come (streamed)."""
    import av

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


def run_decode(args: argparse.Namespace) -> int:
    from spikesci.sci import decode_file

    src = Path(args.input)
    if args.output is None:  # a task without pictures (classify) may just print its answer
        if args.task == "reconstruct":
            raise SpikeSciError("decode --task reconstruct needs -o OUT (folder, OUT.png, OUT.npz or video)")
        result = decode_file(src, task=args.task, model=args.model, flows=args.flows)
        summary = {"input": str(src), "task": args.task, "maps": int(len(result.frames)),
                   **{k: v for k, v in result.outputs.items() if isinstance(v, (int, float, str, list))}}
        return _report(summary, args, src)
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".npz", ".mp4", ".avi", ".mkv", ""):
        raise SpikeSciError(f"{out}: output must be a folder, .png, .npz or a video (.mp4/.mkv/.avi)")
    if suffix == "" and out.exists() and not out.is_dir():
        raise SpikeSciError(f"{out}: exists and is not a folder")
    if suffix != "" or not out.exists():
        check_output(out, args.force, inputs=(src,))
    if args.task == "reconstruct" and suffix != ".npz":  # stream: bounded memory on long clips
        from spikesci.sci import iter_images

        summary = {"input": str(src), "output": str(out), "task": args.task, "frames": []}
        if suffix == ".png":
            frames = _map_frames(src)
            target = frames[len(frames) // 2] if args.frame is None else args.frame
            want = frames[int(np.argmin(np.abs(np.asarray(frames) - target)))]
            for f, img in iter_images(src, args.model, args.flows):
                if f == want:
                    _save_png(out, img)
                    summary["frames"].append(int(f))
                    break
        elif suffix:
            tmp = out.with_name(out.stem + ".part" + out.suffix)
            try:
                _save_video(tmp, iter_images(src, args.model, args.flows), summary)
                tmp.replace(out)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            out.mkdir(exist_ok=True)
            written = []
            try:
                for f, img in iter_images(src, args.model, args.flows):
                    written.append(out / f"frame_{int(f):06d}.png")
                    _save_png(written[-1], img)
                    summary["frames"].append(int(f))
            except BaseException:  # a damaged later chunk: leave no half-decoded sequence behind
                for p in written:
                    p.unlink(missing_ok=True)
                raise
        summary["maps"] = len(summary["frames"])
    else:
        result = decode_file(src, task=args.task, model=args.model, flows=args.flows)
        summary = {"input": str(src), "output": str(out), "task": args.task, "maps": int(len(result.frames)),
                   "frames": [int(f) for f in result.frames],
                   **{k: v for k, v in result.outputs.items() if isinstance(v, (int, float, str, list))}}
        arrays = {"frames": result.frames, "features": result.features, "flows": result.flows}
        if result.images is not None:
            arrays["images"] = result.images
        if suffix == ".npz":
            np.savez_compressed(out, **arrays)
        elif suffix == "" and result.images is None:
            out.mkdir(exist_ok=True)
            np.savez_compressed(out / "outputs.npz", **arrays)
        elif result.images is None:
            raise SpikeSciError(f"task '{args.task}' makes no images: write OUT.npz or a folder")
    return _report(summary, args, out)


def _report(summary: dict, args: argparse.Namespace, where: Path) -> int:
    """Print the decode summary: JSON, or a line (plus the label of a classification)."""
    if args.json:
        print_json(summary)
        return 0
    print(f"{where}: {summary['maps']} maps decoded ({args.task})")
    if "label" in summary:
        print(f"label {summary['label']} ({summary.get('label_name', '')}) by {summary.get('model', '')}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from spikesci.models.codec.bench import run_benchmark

    result = run_benchmark(quick=args.quick, json_path=args.json_out, plot_path=args.plot, model=args.model)
    print_json(result) if not args.json_out else None
    return 0
