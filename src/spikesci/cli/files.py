"""`spikesci info`, `spikesci simulate`, `spikesci reconstruct`: look at, make, and view spike files."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spikesci.cli.common import add_force_arg, add_size_args, check_output, print_json
from spikesci.errors import SpikeFileError, SpikeSciError
from spikesci.simulate.camera import DEFAULT_WHITE_RATE, NOISY, CameraConfig

CHUNK = 256  # spike frames handled at once: bounds memory on long clips
RECON_MARGIN = 1024  # frames read either side of --frame for a single reconstruction


def register(commands, bench) -> None:
    p = commands.add_parser("info", help="frames, size and firing rate of a spike file (.dat/.npz)",
                            description="Print a spike file's frames, size and firing rate.")
    p.add_argument("file", help="spike file (.dat or .npz)")
    add_size_args(p)
    p.add_argument("--white-rate", type=float, default=DEFAULT_WHITE_RATE,
                   help="spikes per frame at full white, to express the rate as luminance (0.6)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    p.set_defaults(func=run_info)

    p = commands.add_parser(
        "simulate", help="spikes from an image, a folder of frames or a video",
        description="Simulate an integrate-and-fire spike camera watching INPUT and write the spikes. "
        "INPUT is an image file, a folder of image frames (name order), a video (read with PyAV), or a "
        "bundled picture such as skimage:camera or sklearn:china. A still image can be moved (--motion).")
    p.add_argument("input", help="image, folder of frames, video, or skimage:NAME / sklearn:NAME")
    p.add_argument("-o", "--output", required=True, help="output spike file (.dat or .npz)")
    p.add_argument("--height", type=int, default=250,
                   help="output frame height (250); the input is centre-cropped and resized")
    p.add_argument("--width", type=int, default=400, help="output frame width (400)")
    p.add_argument("--frames", type=int, default=None,
                   help="spike frames to make (default 200 for an image; all input frames x --repeat)")
    p.add_argument("--repeat", type=int, default=1,
                   help="spike frames per input video/folder frame, linearly interpolated (1)")
    p.add_argument("--motion", choices=("none", "slow", "fast"), default="none",
                   help="move a still image: slow 0.05-0.3 px/frame, fast 0.5-3 px/frame (none)")
    p.add_argument("--sprites", type=int, default=0, help="moving objects over a still image (0)")
    p.add_argument("--threshold", type=float, default=1.0,
                   help="firing threshold relative to the default; 2 fires half as often (1.0)")
    p.add_argument("--white-rate", type=float, default=DEFAULT_WHITE_RATE,
                   help="spikes per frame at full white at threshold 1 (0.6)")
    p.add_argument("--noise", action="store_true",
                   help="realistic sensor noise: threshold mismatch, dark current, read noise")
    p.add_argument("--seed", type=int, default=0, help="random seed (motion, initial potentials, noise)")
    p.add_argument("--gt", nargs="?", const="", default=None, metavar="PATH",
                   help="also write the ground-truth luminance: to PATH.npz (key 'luminance'), a folder "
                   "of PNGs, or with no PATH to OUTPUT's name + .gt.npz")
    add_force_arg(p)
    p.set_defaults(func=run_simulate)

    p = commands.add_parser(
        "reconstruct", help="images from spikes with TFP or TFI",
        description="Reconstruct luminance from spikes: one frame centred on --frame (OUT.png), or every "
        "frame (OUT is a folder, written as frame_NNNNNN.png).")
    p.add_argument("input", help="spike file (.dat or .npz)")
    p.add_argument("-o", "--output", required=True, help="OUT.png for one frame, or a folder for every frame")
    p.add_argument("--method", choices=("tfp", "tfi", "net"), default="tfp",
                   help="tfp: spike count over a window; tfi: inter-spike interval; net: the shipped "
                   "learned FEM+FAM (uncompressed features), one image every stride frames for -o DIR (tfp)")
    p.add_argument("--frame", type=int, default=None, help="centre frame (default: the middle)")
    p.add_argument("--window", type=int, default=41, help="TFP window in frames (41)")
    p.add_argument("--white-rate", type=float, default=DEFAULT_WHITE_RATE,
                   help="spikes per frame at full white (0.6)")
    p.add_argument("--phases", type=int, choices=(1, 4), default=1,
                   help="net only: 4 averages the four 2x2 block-grid placements of the FEM (sharper, about "
                   "+0.4 dB on spike-REDS, 4x slower); 1 = one pass (default)")
    add_size_args(p)
    add_force_arg(p)
    p.set_defaults(func=run_reconstruct)


# -- info --------------------------------------------------------------------------------------------
def spike_file_info(path: str | Path, height: int = 250, width: int = 400,
                    white_rate: float = DEFAULT_WHITE_RATE) -> dict:
    """Frames, size and firing rate of a `.dat` (read in chunks, so any length fits) or `.npz` file."""
    from tqdm import tqdm

    from spikesci.io import dat_num_frames, read_spikes

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dat":
        frames = dat_num_frames(path, height, width)
        total = 0
        quiet = frames < 8 * CHUNK
        with tqdm(total=frames, unit="frame", desc="counting", disable=quiet, leave=False) as bar:
            for a in range(0, frames, CHUNK):
                b = min(frames, a + CHUNK)
                total += int(np.count_nonzero(read_spikes(path, height, width, frames=(a, b))))
                bar.update(b - a)
    else:
        spikes = read_spikes(path, height, width)
        frames, height, width = spikes.shape
        total = int(np.count_nonzero(spikes))
    pixels = frames * height * width
    rate = total / pixels if pixels else 0.0
    return {
        "file": str(path), "format": suffix.lstrip("."), "frames": frames, "height": height, "width": width,
        "bytes": path.stat().st_size, "spikes": total, "firing_rate": rate,
        "mean_luminance": min(rate / white_rate, 1.0), "white_rate": white_rate,
        "bits_per_spike_pixel": 8.0 * path.stat().st_size / pixels if pixels else 0.0,
    }


def stream_file_info(path: str | Path) -> dict:
    """Facts about a `.spkz` archive (spikes decoded chunk by chunk for the firing rate) or a `.sci` stream
    (header only: a feature stream has no spikes to count, so `firing_rate` is None)."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if path.suffix.lower() == ".spkz":
        from spikesci.lossless import archive_info, unpack_spikes

        info = archive_info(path)
        t, h, w, step = info["frames"], info["height"], info["width"], max(1, info["chunk_frames"])
        spikes = sum(int(unpack_spikes(path, frames=(a, min(t, a + step))).sum(dtype=np.int64))
                     for a in range(0, t, step))
        rate = spikes / max(1, t * h * w)
        fmt = "spkz (lossless archive)"
    else:
        from spikesci.io.container import ContainerReader
        from spikesci.sci import KIND, MAGIC, VERSION, read_header

        with ContainerReader(path, MAGIC, (VERSION,), KIND) as reader:
            hd = read_header(reader)
            chunks = reader.num_chunks  # checks the chunk index too, so a truncated stream is refused here
        t, h, w = hd["frames"], hd["height"], hd["width"]
        info = {k: hd[k] for k in ("quality", "model", "stride", "maps", "gop")} | {"chunks": chunks}
        spikes, rate, fmt = None, None, "sci (learned feature stream)"
    return {"file": str(path), "format": fmt, "frames": t, "height": h, "width": w, "bytes": size,
            "spikes": spikes, "firing_rate": rate, "bits_per_spike_pixel": 8 * size / max(1, t * h * w),
            **{k: v for k, v in info.items() if k not in ("frames", "height", "width", "bytes")}}


def run_info(args: argparse.Namespace) -> int:
    if Path(args.file).suffix.lower() in (".spkz", ".sci"):
        info = stream_file_info(args.file)
        if args.json:
            print_json(info)
        else:
            print(f"{info['file']}: {info['format']}")
            for key, value in info.items():
                if key not in ("file", "format") and value is not None:
                    print(f"  {key:<22}{value:.4f}" if isinstance(value, float) else f"  {key:<22}{value}")
        return 0
    info = spike_file_info(args.file, args.height, args.width, args.white_rate)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['file']}: {info['format']} spike file")
    print(f"  frames        {info['frames']}")
    print(f"  size          {info['height']} x {info['width']}  ({info['bytes']:,} bytes, "
          f"{info['bits_per_spike_pixel']:.3f} bits per spike-pixel)")
    print(f"  firing rate   {info['firing_rate']:.4f} spikes per pixel per frame "
          f"(mean luminance {info['mean_luminance']:.3f} at white rate {info['white_rate']})")
    return 0


# -- simulate ----------------------------------------------------------------------------------------
def _camera(args: argparse.Namespace) -> CameraConfig:
    """The camera of the paper's model: efficiency fixed, so a higher threshold fires proportionally less."""
    if args.threshold <= 0:
        raise SpikeSciError("--threshold must be positive")
    rate = args.white_rate / args.threshold
    if not 0 < rate <= 1:
        raise SpikeSciError(f"--white-rate / --threshold = {rate:g} spikes per frame at white; it must be "
                            "in (0, 1] (a pixel fires at most once a frame)")
    base = NOISY if args.noise else CameraConfig()
    return dataclasses.replace(base, white_rate=rate, threshold=args.threshold)


def _sequence_luminance(frames: Iterator[np.ndarray], args: argparse.Namespace, limit: int | None):
    """Input frames, fitted to the output size, each expanded into --repeat interpolated spike frames."""
    from spikesci.simulate.images import fit_to

    if args.repeat < 1:
        raise SpikeSciError("--repeat must be at least 1")
    made, prev = 0, None
    for frame in frames:
        cur = fit_to(frame, args.height, args.width)
        if prev is not None:
            steps = np.arange(1, args.repeat + 1, dtype=np.float32)[:, None, None] / args.repeat
            block = prev[None] + steps * (cur - prev)[None]
        else:
            block = cur[None]
        if limit is not None:
            block = block[: limit - made]
        made += len(block)
        yield block
        prev = cur
        if limit is not None and made >= limit:
            return


def _luminance_source(args: argparse.Namespace, camera: CameraConfig) -> tuple[Iterator, int, str]:
    """(chunks of ground-truth luminance, number of frames or 0 if unknown, a description)."""
    from spikesci.simulate import images
    from spikesci.simulate.scenes import iter_luminance, plan_scene, preset

    src = args.input
    path = Path(src)
    still = None
    if images.is_bundled(src):
        still, what = images.load_image(src), f"bundled image {src}"
    elif not path.exists():
        raise SpikeSciError(f"{src}: no such file or folder (or bundled image: skimage:NAME, sklearn:NAME; "
                            f"known: {', '.join(images.list_images('all'))})")
    elif path.is_file() and path.suffix.lower() in images.IMAGE_SUFFIXES:
        still, what = images.read_grey(path), f"image {path.name}"
    if still is not None:
        frames = 200 if args.frames is None else args.frames
        if frames < 1:
            raise SpikeSciError("--frames must be at least 1")
        # scale (1e9, 1e9): as large as fits, so as much of the picture as possible is in view
        config = preset(args.motion, height=args.height, width=args.width, frames=frames,
                        sprites=args.sprites, scale=(1e9, 1e9), camera=camera)
        return iter_luminance(plan_scene(config, args.seed, image=still), CHUNK), frames, what
    if args.motion != "none" or args.sprites:
        raise SpikeSciError("--motion and --sprites apply to a still image (a video or folder moves itself)")
    if path.is_dir():
        files = images.frame_files(path)
        count = len(files) if args.repeat == 1 else (len(files) - 1) * args.repeat + 1
        seq = _sequence_luminance((images.read_grey(f) for f in files), args, args.frames)
        return seq, min(count, args.frames or count), f"{len(files)} frames in {path.name}/"
    if path.suffix.lower() in images.VIDEO_SUFFIXES or path.is_file():
        frames, count = images.video_frames(path)
        count = 0 if not count else (count - 1) * args.repeat + 1
        seq = _sequence_luminance(frames, args, args.frames)
        return seq, min(count, args.frames) if args.frames and count else count, f"video {path.name}"
    raise SpikeSciError(f"{src}: not an image, video or folder of frames")


class _GroundTruth:
    """Writes ground-truth luminance as it is made: a folder of PNGs, or one .npz at the end."""

    def __init__(self, target: str | None, output: Path, force: bool):
        self.frames: list[np.ndarray] = []
        self.count = 0
        if target is None:
            self.kind, self.path = None, None
            return
        path = Path(target) if target else output.with_name(output.stem + ".gt.npz")
        self.kind = "npz" if path.suffix.lower() == ".npz" else "png"
        if self.kind == "png":
            if path.exists() and any(path.iterdir()) and not force:
                raise SpikeSciError(f"{path}: folder is not empty (use --force to write into it)")
            if not path.parent.exists():
                raise SpikeSciError(f"{path.parent}: output folder does not exist")
        else:
            check_output(path, force)
        self.path = path

    def add(self, lum: np.ndarray) -> None:
        if self.kind == "npz":
            self.frames.append(lum)
        elif self.kind == "png":
            self.path.mkdir(exist_ok=True)
            for frame in lum:
                save_png(self.path / f"frame_{self.count:06d}.png", frame)
                self.count += 1

    def close(self) -> None:
        if self.kind == "npz":
            tmp = self.path.with_name(self.path.name + ".part.npz")
            np.savez(tmp, luminance=np.concatenate(self.frames))  # float32, exact; compression is slow
            os.replace(tmp, self.path)


def run_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from spikesci.io.dat import pack_frames
    from spikesci.io.npz import write_npz
    from spikesci.simulate.camera import IFCamera

    out = check_output(args.output, args.force, inputs=(args.input,))
    if out.suffix.lower() not in (".dat", ".npz"):
        raise SpikeFileError(f"{out}: output must be a .dat or .npz spike file")
    if args.height < 1 or args.width < 1:
        raise SpikeSciError("--height and --width must be positive")
    camera_cfg = _camera(args)
    chunks, total, what = _luminance_source(args, camera_cfg)
    gt = _GroundTruth(args.gt, out, args.force)
    camera = IFCamera(args.height, args.width, camera_cfg, seed=args.seed)
    tmp = out.with_name(out.name + ".part")
    spikes_kept: list[np.ndarray] = []
    frames = fired = 0
    try:
        with open(tmp, "wb") as fh, tqdm(total=total or None, unit="frame", desc="simulating",
                                         disable=(total or 0) < 2 * CHUNK) as bar:
            for lum in chunks:
                spikes = np.stack([camera.step(frame) for frame in lum])
                if out.suffix.lower() == ".dat":
                    fh.write(pack_frames(spikes).tobytes())
                else:
                    spikes_kept.append(spikes)
                gt.add(lum)
                frames += len(spikes)
                fired += int(np.count_nonzero(spikes))
                bar.update(len(spikes))
        if frames == 0:
            raise SpikeSciError(f"{args.input}: no frames to simulate")
        if out.suffix.lower() == ".npz":
            tmp.unlink()
            write_npz(out, np.concatenate(spikes_kept))
        else:
            os.replace(tmp, out)
        gt.close()
    finally:
        tmp.unlink(missing_ok=True)
    rate = fired / (frames * args.height * args.width)
    print(f"wrote {out}: {frames} frames of {args.height}x{args.width} from {what}, firing rate {rate:.4f} "
          f"(white rate {camera_cfg.white_rate:g}{', noisy' if args.noise else ''})")
    if gt.path is not None:
        print(f"ground truth luminance: {gt.path}")
    return 0


# -- reconstruct -------------------------------------------------------------------------------------
def save_png(path: str | Path, image: np.ndarray) -> None:
    """Luminance in [0, 1] as an 8-bit grey PNG."""
    from PIL import Image

    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="L").save(path)


def _is_image_path(path: Path) -> bool:
    return path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def run_reconstruct(args: argparse.Namespace) -> int:
    from spikesci.io import dat_num_frames, read_spikes
    from spikesci.reconstruct import tfi, tfi_sequence, tfp, tfp_sequence

    src, out = Path(args.input), Path(args.output)
    if args.phases != 1 and args.method != "net":
        raise SpikeSciError("--phases applies to --method net only")
    if _is_image_path(out):
        check_output(out, args.force, inputs=(src,))
        lo = 0
        if src.suffix.lower() == ".dat":
            total = dat_num_frames(src, args.height, args.width)
            centre = total // 2 if args.frame is None else args.frame
            if not 0 <= centre < total:
                raise SpikeSciError(f"--frame {centre} is outside the clip (0..{total - 1})")
            margin = max(RECON_MARGIN, args.window)
            lo, hi = max(0, centre - margin), min(total, centre + margin + 1)
            spikes, centre = read_spikes(src, args.height, args.width, frames=(lo, hi)), centre - lo
        else:
            spikes = read_spikes(src, args.height, args.width)
            centre = spikes.shape[0] // 2 if args.frame is None else args.frame
        if args.method == "tfp":
            image = tfp(spikes, centre, window=args.window, white_rate=args.white_rate)
        elif args.method == "tfi":
            image = tfi(spikes, centre, white_rate=args.white_rate)
        else:
            image = _net_images(spikes, [centre], args.white_rate, args.phases)[0][0]
        save_png(out, image)
        print(f"wrote {out}: {args.method.upper()} at frame {lo + centre}, "
              f"mean luminance {float(image.mean()):.3f}")
        return 0
    return _reconstruct_all(args, src, out, read_spikes, tfp_sequence, tfi_sequence)


def _net_images(spikes: np.ndarray, frames, white_rate: float,
                phases: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The learned reconstruction; it was trained at white rate 0.6, so another rate rescales its output."""
    from spikesci.models.zoo import load_perception

    images, got = load_perception().reconstruct(spikes, frames=frames, phases=phases,
                                                progress=frames is None)
    if white_rate != DEFAULT_WHITE_RATE:
        images = np.clip(images * (DEFAULT_WHITE_RATE / white_rate), 0.0, 1.0)
    return images, np.asarray(got)


def _reconstruct_all(args, src: Path, out: Path, read_spikes, tfp_sequence, tfi_sequence) -> int:
    """Every frame into folder `out` as frame_NNNNNN.png."""
    from tqdm import tqdm

    if out.exists() and not out.is_dir():
        raise SpikeSciError(f"{out}: exists and is not a folder (give OUT.png for a single frame)")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SpikeSciError(f"{out}: folder is not empty (use --force to write into it)")
    if not out.parent.exists():
        raise SpikeSciError(f"{out.parent}: output folder does not exist")
    spikes = read_spikes(src, args.height, args.width)
    if args.method == "tfp":
        images = tfp_sequence(spikes, window=args.window, white_rate=args.white_rate)
        frames = np.arange(len(images))
    elif args.method == "tfi":
        images = tfi_sequence(spikes, white_rate=args.white_rate)
        frames = np.arange(len(images))
    else:
        images, frames = _net_images(spikes, None, args.white_rate, args.phases)
    out.mkdir(exist_ok=True)
    for t in tqdm(range(len(images)), unit="frame", desc="writing", disable=len(images) < 100):
        save_png(out / f"frame_{int(frames[t]):06d}.png", images[t])
    print(f"wrote {len(images)} {args.method.upper()} frames to {out}/")
    return 0
