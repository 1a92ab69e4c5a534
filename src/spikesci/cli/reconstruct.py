"""`spikesci reconstruct`: pictures from spikes (TFP, TFI or the learned net), exposed automatically.

`--white-rate auto` (the default) reads the white rate off the clip (reconstruct/exposure.py), so a dim real
recording is not black; a number fixes it (0.6 is the published spike-REDS protocol)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from spikesci.cli.common import (
    DEFAULT_WHITE_RATE,
    IMAGE_SUFFIXES,
    add_force_arg,
    add_size_args,
    check_folder,
    check_frame,
    check_input,
    check_output,
    check_size,
    check_suffix,
    print_json,
    save_png,
    white_rate_arg,
)
from spikesci.errors import SpikeSciError

if TYPE_CHECKING:
    import numpy as np

RECON_MARGIN = 1024  # frames read either side of --frame for a single reconstruction
DEFAULT_WINDOW = 41
SINGLE_ENSEMBLE = 8  # views averaged for one net picture by default (a folder of frames takes one view)


def register(commands, bench) -> None:
    p = commands.add_parser(
        "reconstruct", help="images from spikes with TFP, TFI or the learned net",
        description="Reconstruct luminance from spikes: one frame centred on --frame (OUT.png), or every "
        "frame (OUT is a folder, written as frame_NNNNNN.png).")
    p.add_argument("input", help="spike file (.dat or .npz)")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.png (or .jpg/.tif/.bmp) for one frame, or a folder (no suffix) for every frame")
    p.add_argument("--method", choices=("tfp", "tfi", "net"), default="tfp",
                   help="tfp: spike count over a window; tfi: inter-spike interval; net: the shipped "
                   "learned FEM+FAM (uncompressed features), one image every stride frames for -o DIR (tfp)")
    p.add_argument("--frame", type=int, default=None,
                   help="centre frame of OUT.png, 0..frames-1 (default: the middle)")
    p.add_argument("--window", type=int, default=None, help=f"TFP window in frames ({DEFAULT_WINDOW})")
    p.add_argument("--white-rate", type=white_rate_arg, default="auto",
                   help="spikes per frame at full white, in (0, 1], or 'auto' (default): a robust high "
                   "percentile of the clip's firing rate maps to white, so dim recordings are not black; "
                   "0.6 is the spike-REDS protocol")
    p.add_argument("--phases", type=int, choices=(1, 4), default=1,
                   help="net with a half-resolution FEM (release 2) only: 4 averages the four 2x2 block-grid "
                   "placements; the shipped release-3 net works at full resolution and refuses 4")
    p.add_argument("--ensemble", type=int, choices=(1, 2, 4, 8), default=None,
                   help="net only: average the images made on this many mirrored / turned views of the "
                   "spikes (+0.19 dB on spike-REDS with 8, at 8x the work); default 8 for one "
                   "picture (OUT.png), 1 for every frame (a folder)")
    add_size_args(p)
    add_force_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary (frames, white_rate, ...)")
    p.set_defaults(func=run_reconstruct)


def _white_rate(args: argparse.Namespace, spikes) -> float:
    from spikesci.reconstruct.exposure import auto_white_rate

    return auto_white_rate(spikes) if args.white_rate == "auto" else float(args.white_rate)


def _check_args(args: argparse.Namespace, src: Path, out: Path) -> bool:
    """Checks before any reading; returns whether OUT is a single picture."""
    check_input(src)
    check_suffix(src, (".dat", ".npz"), "reconstruct reads")
    check_suffix(out, IMAGE_SUFFIXES + ("",), "reconstruct writes")
    check_size(args.height, args.width)
    if args.phases != 1 and args.method != "net":
        raise SpikeSciError("--phases applies to --method net only")
    if args.ensemble is not None and args.method != "net":
        raise SpikeSciError("--ensemble applies to --method net only")
    if args.window is not None and args.method != "tfp":
        raise SpikeSciError("--window applies to --method tfp only")
    if args.window is not None and args.window < 1:
        raise SpikeSciError(f"--window must be at least 1 frame, got {args.window}")
    single = out.suffix.lower() in IMAGE_SUFFIXES
    if not single and args.frame is not None:
        raise SpikeSciError(f"--frame picks the frame of one picture: give OUT.png, not the folder {out}")
    return single


def run_reconstruct(args: argparse.Namespace) -> int:
    from spikesci.io import dat_num_frames, read_spikes
    from spikesci.reconstruct import tfi, tfp

    src, out = Path(args.input), Path(args.output)
    window = DEFAULT_WINDOW if args.window is None else args.window
    if not _check_args(args, src, out):
        return _reconstruct_all(args, src, out, window)
    check_output(out, args.force, inputs=(src,))
    lo = 0
    if src.suffix.lower() == ".dat":
        total = dat_num_frames(src, args.height, args.width)
        if total == 0:
            raise SpikeSciError(f"{src}: holds no frames (an empty spike file)")
        centre = check_frame(total // 2 if args.frame is None else args.frame, total)
        margin = max(RECON_MARGIN, window)
        lo, hi = max(0, centre - margin), min(total, centre + margin + 1)
        spikes, centre = read_spikes(src, args.height, args.width, frames=(lo, hi)), centre - lo
    else:
        spikes = read_spikes(src, args.height, args.width)
        if spikes.shape[0] == 0:
            raise SpikeSciError(f"{src}: holds no frames (an empty spike file)")
        centre = check_frame(spikes.shape[0] // 2 if args.frame is None else args.frame, spikes.shape[0])
    white = _white_rate(args, spikes)
    if args.method == "tfp":
        image = tfp(spikes, centre, window=window, white_rate=white)
    elif args.method == "tfi":
        image = tfi(spikes, centre, white_rate=white)
    else:
        ensemble = SINGLE_ENSEMBLE if args.ensemble is None else args.ensemble
        from spikesci.cli.common import show_progress

        image = _net_images(spikes, [centre], white, args.phases, ensemble,
                            progress=ensemble > 1 and show_progress(args.json))[0][0]
    save_png(out, image)
    summary = {"input": str(src), "output": str(out), "method": args.method, "frames": [lo + centre],
               "white_rate": white, "white_rate_mode": "auto" if args.white_rate == "auto" else "fixed",
               "mean_luminance": float(image.mean())}
    if args.method == "net":
        summary["ensemble"] = ensemble
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {out}: {args.method.upper()} at frame {lo + centre}, white rate {white:.4g} "
              f"({summary['white_rate_mode']}), mean luminance {summary['mean_luminance']:.3f}")
    return 0


def _net_images(spikes: np.ndarray, frames, white_rate: float, phases: int = 1, ensemble: int = 1,
                progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The learned reconstruction; it was trained at white rate 0.6, so another rate re-exposes its output."""
    import numpy as np

    from spikesci.models.zoo import load_reconstruction
    from spikesci.reconstruct.exposure import apply_gain

    images, got = load_reconstruction().reconstruct(spikes, frames=frames, phases=phases, ensemble=ensemble,
                                                    progress=progress)
    return apply_gain(images, DEFAULT_WHITE_RATE, white_rate), np.asarray(got)


def _reconstruct_all(args: argparse.Namespace, src: Path, out: Path, window: int) -> int:
    """Every frame (every map time for net) into folder `out` as frame_NNNNNN.png."""
    import numpy as np
    from tqdm import tqdm

    from spikesci.cli.common import show_progress
    from spikesci.io import read_spikes
    from spikesci.reconstruct import tfi_sequence, tfp_sequence

    check_folder(out, args.force, inputs=(src,))
    spikes = read_spikes(src, args.height, args.width)
    if spikes.shape[0] == 0:
        raise SpikeSciError(f"{src}: holds no frames (an empty spike file)")
    white = _white_rate(args, spikes)
    progress = show_progress(args.json)
    if args.method == "tfp":
        images = tfp_sequence(spikes, window=window, white_rate=white)
        frames = np.arange(len(images))
    elif args.method == "tfi":
        images = tfi_sequence(spikes, white_rate=white)
        frames = np.arange(len(images))
    else:
        images, frames = _net_images(spikes, None, white, args.phases, args.ensemble or 1, progress=progress)
    out.mkdir(exist_ok=True)
    quiet = not progress or len(images) < 100
    for t in tqdm(range(len(images)), unit="frame", desc="writing", disable=quiet):
        save_png(out / f"frame_{int(frames[t]):06d}.png", images[t])
    summary = {"input": str(src), "output": str(out), "method": args.method,
               "frames": [int(f) for f in frames], "white_rate": white,
               "white_rate_mode": "auto" if args.white_rate == "auto" else "fixed"}
    if args.method == "net":
        summary["ensemble"] = args.ensemble or 1
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {len(images)} {args.method.upper()} frames to {out}/ (white rate {white:.4g}, "
              f"{summary['white_rate_mode']})")
    return 0
