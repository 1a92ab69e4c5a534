"""`spikesci simulate`: spikes (and optionally the ground-truth luminance) from a picture, frames or a video.

Two outputs (spikes and --gt) and one input: the three must be different files, checked through links before
anything is written (issue 16: `-o s.npz --gt s.npz` used to leave only the ground truth)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from spikesci.cli.common import (
    DEFAULT_WHITE_RATE,
    add_force_arg,
    check_folder,
    check_output,
    check_size,
    check_suffix,
    same_file,
    save_png,
)
from spikesci.errors import SpikeSciError

if TYPE_CHECKING:
    import numpy as np

    from spikesci.simulate.camera import CameraConfig

CHUNK = 256  # spike frames simulated at once: bounds memory on long clips


def register(commands, bench) -> None:
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
                   help="spike frames to make (default: 200 for an image; for N video/folder frames "
                   "(N - 1) x --repeat + 1, i.e. every input frame and the interpolated ones between)")
    p.add_argument("--repeat", type=int, default=1,
                   help="spike frames per input video/folder frame, linearly interpolated, at least 1 (1)")
    p.add_argument("--motion", choices=("none", "slow", "fast"), default="none",
                   help="move a still image: slow 0.05-0.3 px/frame, fast 0.5-3 px/frame (none)")
    p.add_argument("--sprites", type=int, default=0, help="moving objects over a still image, 0 or more (0)")
    p.add_argument("--threshold", type=float, default=1.0,
                   help="firing threshold relative to the default; 2 fires half as often (1.0)")
    p.add_argument("--white-rate", type=float, default=DEFAULT_WHITE_RATE,
                   help="spikes per frame at full white at threshold 1 (0.6)")
    p.add_argument("--noise", action="store_true",
                   help="realistic sensor noise: threshold mismatch, dark current, read noise")
    p.add_argument("--seed", type=int, default=0, help="random seed (motion, initial potentials, noise)")
    p.add_argument("--gt", nargs="?", const="", default=None, metavar="PATH",
                   help="also write the ground-truth luminance: to PATH.npz (key 'luminance', float16, "
                   "compressed), a folder of PNGs, or with no PATH to OUTPUT's name + .gt.npz")
    add_force_arg(p)
    p.set_defaults(func=run_simulate)


def _camera(args: argparse.Namespace) -> CameraConfig:
    """The camera of the paper's model: efficiency fixed, so a higher threshold fires proportionally less."""
    from spikesci.simulate.camera import NOISY, CameraConfig

    if not args.threshold > 0:
        raise SpikeSciError(f"--threshold must be positive, got {args.threshold}")
    rate = args.white_rate / args.threshold
    if not 0 < rate <= 1:
        raise SpikeSciError(f"--white-rate / --threshold = {rate:g} spikes per frame at white; it must be "
                            "in (0, 1] (a pixel fires at most once a frame)")
    base = NOISY if args.noise else CameraConfig()
    return dataclasses.replace(base, white_rate=rate, threshold=args.threshold)


def _check_numbers(args: argparse.Namespace) -> None:
    """Counts that would silently do nothing (or something else) are refused up front."""
    check_size(args.height, args.width)
    if args.repeat < 1:
        raise SpikeSciError(f"--repeat must be at least 1, got {args.repeat}")
    if args.sprites < 0:
        raise SpikeSciError(f"--sprites must be 0 or more, got {args.sprites}")
    if args.frames is not None and args.frames < 1:
        raise SpikeSciError(f"--frames must be at least 1, got {args.frames}")


def _sequence_luminance(frames: Iterator[np.ndarray], args: argparse.Namespace, limit: int | None):
    """Input frames, fitted to the output size, each expanded into --repeat interpolated spike frames."""
    import numpy as np

    from spikesci.simulate.images import fit_to

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


def gt_path(target: str | None, output: Path) -> Path | None:
    """Where --gt writes: PATH, or OUTPUT's name + .gt.npz for a bare --gt, or None without --gt."""
    if target is None:
        return None
    return Path(target) if target else output.with_name(output.stem + ".gt.npz")


class _GroundTruth:
    """Writes ground-truth luminance as it is made: a folder of PNGs, or one compressed .npz at the end."""

    def __init__(self, path: Path | None, output: Path, force: bool, source: str):
        self.frames: list[np.ndarray] = []
        self.count = 0
        self.path = path
        self.kind = None if path is None else ("npz" if path.suffix.lower() == ".npz" else "png")
        inputs = (source,) if Path(source).exists() else ()
        if self.kind == "png":
            if same_file(path, output):
                raise SpikeSciError(f"{path}: the same file is given for two outputs ({output})")
            check_folder(path, force, inputs=inputs)
        elif self.kind == "npz":
            check_output(path, force, inputs=inputs, others=(output,))

    def add(self, lum: np.ndarray) -> None:
        import numpy as np

        if self.kind == "npz":
            self.frames.append(lum.astype(np.float16))
        elif self.kind == "png":
            self.path.mkdir(exist_ok=True)
            for frame in lum:
                save_png(self.path / f"frame_{self.count:06d}.png", frame)
                self.count += 1

    def close(self) -> None:
        """float16 keeps 11 bits (finer than the 8-bit pictures it comes from) and compresses ~2.6x better
        than float32 (a 200-frame 250x400 clip: ~31 MB instead of 80 MB)."""
        import numpy as np
        if self.kind == "npz":
            tmp = self.path.with_name(self.path.name + ".part.npz")
            np.savez_compressed(tmp, luminance=np.concatenate(self.frames))
            os.replace(tmp, self.path)


def run_simulate(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from spikesci.io.dat import pack_frames
    from spikesci.io.npz import write_npz
    from spikesci.simulate.camera import IFCamera

    out = Path(args.output)
    check_suffix(out, (".dat", ".npz"), "simulate writes")
    _check_numbers(args)
    gt_target = gt_path(args.gt, out)
    out = check_output(out, args.force, inputs=(args.input,) if Path(args.input).exists() else (),
                       others=(gt_target,))
    camera_cfg = _camera(args)
    gt = _GroundTruth(gt_target, out, args.force, args.input)
    chunks, total, what = _luminance_source(args, camera_cfg)
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
