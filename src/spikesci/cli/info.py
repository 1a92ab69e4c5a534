"""`spikesci info`: what is in a spike file (.dat / .npz), a lossless archive (.spkz) or a feature stream
(.sci). Never imports torch: it answers in a fraction of a second (issue 16)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikesci.cli.common import (
    DEFAULT_WHITE_RATE,
    add_size_args,
    check_input,
    check_size,
    print_json,
    rate_arg,
)
from spikesci.errors import SpikeFileError, SpikeSciError

CHUNK = 256  # spike frames counted at once: bounds memory on long clips


def register(commands, bench) -> None:
    p = commands.add_parser("info",
                            help="frames, size and firing rate of a spike file (.dat/.npz/.spkz/.sci)",
                            description="Print the frames, size and firing rate of a spike file (.dat or "
                            ".npz), of a lossless archive (.spkz), or the header of a feature stream (.sci).")
    p.add_argument("file", help="spike file (.dat or .npz), archive (.spkz) or feature stream (.sci)")
    add_size_args(p)
    p.add_argument("--white-rate", type=rate_arg, default=None,
                   help=".dat/.npz: spikes per frame at full white, in (0, 1], to express the rate as "
                   f"luminance ({DEFAULT_WHITE_RATE})")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    p.set_defaults(func=run_info)


def spike_file_info(path: str | Path, height: int = 250, width: int = 400,
                    white_rate: float = DEFAULT_WHITE_RATE) -> dict:
    """Frames, size and firing rate of a `.dat` (read in chunks, so any length fits) or `.npz` file."""
    import numpy as np
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
    if frames == 0:
        raise SpikeFileError(f"{path}: holds no frames (an empty spike file)")
    pixels = frames * height * width
    rate = total / pixels
    return {
        "file": str(path), "format": suffix.lstrip("."), "frames": frames, "height": height, "width": width,
        "bytes": path.stat().st_size, "spikes": total, "firing_rate": rate,
        "mean_luminance": min(rate / white_rate, 1.0), "white_rate": white_rate,
        "bits_per_spike_pixel": 8.0 * path.stat().st_size / pixels,
    }


def stream_file_info(path: str | Path) -> dict:
    """Facts about a `.spkz` archive (spikes decoded chunk by chunk for the firing rate) or a `.sci` stream
    (header only: a feature stream has no spikes to count, so `firing_rate` is None)."""
    import numpy as np
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
        from spikesci.sci_header import stream_header

        hd, chunks = stream_header(path)
        t, h, w = hd["frames"], hd["height"], hd["width"]
        info = {k: hd[k] for k in ("quality", "model", "stride", "maps", "gop")} | {"chunks": chunks}
        if isinstance(hd.get("white_rate"), (int, float)):
            info["white_rate"] = float(hd["white_rate"])
        if hd.get("fem_sha256"):
            info["fem"] = fem_release(str(hd["fem_sha256"]))
        spikes, rate, fmt = None, None, "sci (feature stream)"
    return {"file": str(path), "format": fmt, "frames": t, "height": h, "width": w, "bytes": size,
            "spikes": spikes, "firing_rate": rate, "bits_per_spike_pixel": 8 * size / max(1, t * h * w),
            **{k: v for k, v in info.items() if k not in ("frames", "height", "width", "bytes")}}


def fem_release(fem_sha256: str) -> str:
    """The shipped perception release whose FEM made a stream's maps (what decoding will use), read from
    the weights manifest without importing torch; 'not shipped (sha256 ...)' when none matches."""
    import json

    manifest = Path(__file__).resolve().parent.parent / "weights" / "manifest.json"
    try:
        models = json.loads(manifest.read_text()).get("models", {})
    except (OSError, ValueError):
        models = {}
    for name, entry in models.items():
        if entry.get("sha256", {}).get(entry.get("files", {}).get("fem", "")) == fem_sha256:
            return name
    return f"not shipped (sha256 {fem_sha256[:12]}...)"


def run_info(args: argparse.Namespace) -> int:
    check_input(args.file)
    if Path(args.file).suffix.lower() in (".spkz", ".sci"):
        if args.white_rate is not None:
            raise SpikeSciError(f"--white-rate applies to spike files (.dat/.npz), not "
                                f"{Path(args.file).name}")
        info = stream_file_info(args.file)
        if args.json:
            print_json(info)
        else:
            print(f"{info['file']}: {info['format']}")
            for key, value in info.items():
                if key not in ("file", "format") and value is not None:
                    print(f"  {key:<22}{value:.4f}" if isinstance(value, float) else f"  {key:<22}{value}")
        return 0
    check_size(args.height, args.width)
    white = DEFAULT_WHITE_RATE if args.white_rate is None else args.white_rate
    info = spike_file_info(args.file, args.height, args.width, white)
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
