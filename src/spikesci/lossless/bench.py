"""Lossless benchmark: the `.spkz` archive against xz/zstd/bz2, order-0 entropy and the simple ISI model.

Clips: the spike-REDS `.dat` clips and the real UHSR recording when /work/shared/data (or
$SPIKESCI_DATA) has them, and simulated slow and fast scenes (always). Prints a table and JSON.
Speeds are MB/s of `.dat` bytes and M spike-pixels/s, single process, as measured on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from spikesci.io import read_dat, read_npz
from spikesci.lossless.archive import pack_spikes, unpack_spikes
from spikesci.lossless.baselines import measure_general, order0_entropy

GENERAL = ("xz", "zstd-19", "bz2")


def data_root() -> Path:
    return Path(os.environ.get("SPIKESCI_DATA", "/work/shared/data"))


def load_clips(frames: int = 0, quick: bool = False) -> dict[str, np.ndarray]:
    """name -> (T, H, W) spikes for every clip available."""
    from spikesci.simulate.scenes import FAST, SLOW, make_scene, replace

    clips: dict[str, np.ndarray] = {}
    root = data_root()
    sel = None if frames <= 0 else frames
    for path in sorted((root / "spike-reds").glob("*.dat")):
        clips[f"spike-reds/{path.stem}"] = read_dat(
            path, 250, 400, frames=None if sel is None else min(sel, path.stat().st_size // 12500)
        )
    for path in sorted((root / "real").glob("*.npz")):
        spk = read_npz(path)
        clips[f"uhsr/{path.stem}"] = spk if sel is None else spk[:sel]
    n = 64 if quick else (sel or 256)
    size = dict(height=125, width=200) if quick else {}
    for name, cfg in (("sim-slow", SLOW), ("sim-fast", FAST)):
        clips[name] = make_scene(replace(cfg, frames=n, **size), seed=7).spikes
    if quick:
        clips = {k: v[:64, :125, :200] for k, v in clips.items()}
    return clips


def _archive(spikes: np.ndarray, model: str, tmp: Path, workers: int = 1) -> dict:
    """Pack and unpack in this process (workers=1: its CPU time is all the work); check the round trip."""
    path = tmp / f"{model}.spkz"
    t0, c0 = time.perf_counter(), time.process_time()
    stats = pack_spikes(spikes, path, model=model, workers=workers)
    t1, c1 = time.perf_counter(), time.process_time()
    back = unpack_spikes(path, workers=workers)
    t2, c2 = time.perf_counter(), time.process_time()
    if not np.array_equal(back, spikes):
        raise RuntimeError(f"{model}: archive round trip is not exact")
    mb, pix = stats["raw_bytes"] / 1e6, spikes.size / 1e6
    return {
        "bytes": stats["bytes"],
        "bpp": stats["bpp"],
        "encode_mbps": mb / (t1 - t0),
        "decode_mbps": mb / (t2 - t1),
        "encode_mpix_s": pix / (t1 - t0),
        "decode_mpix_s": pix / (t2 - t1),
        "encode_cpu_mpix_s": pix / max(c1 - c0, 1e-9),
        "decode_cpu_mpix_s": pix / max(c2 - c1, 1e-9),
    }


def run(clips: dict[str, np.ndarray], progress: bool = True) -> dict:
    from tqdm import tqdm

    results: dict[str, dict] = {}
    jobs = [(c, m) for c in clips for m in ("pack", "simple-isi", *GENERAL)]
    bar = tqdm(jobs, desc="bench lossless", disable=not progress, leave=False)
    with tempfile.TemporaryDirectory() as tmp:
        for clip, method in bar:
            bar.set_postfix_str(f"{clip} {method}")
            spikes = clips[clip]
            row = results.setdefault(
                clip,
                {
                    "shape": list(spikes.shape),
                    "firing_rate": float(spikes.mean()) if spikes.size else 0.0,
                    "order0_entropy_bpp": order0_entropy(spikes),
                },
            )
            if method == "pack":
                row[method] = _archive(spikes, "ctx", Path(tmp))
            elif method == "simple-isi":
                row[method] = _archive(spikes, "simple", Path(tmp))
            else:
                m = measure_general(spikes, method)
                row[method] = {k: v for k, v in m.items() if k not in ("codec", "raw_bytes")}
            if "xz" in row and "pack" in row:
                row["pack_over_xz"] = row["pack"]["bytes"] / row["xz"]["bytes"]
    return results


def machine_load() -> dict:
    """How busy this machine was: load average and the CPU time of a fixed numpy op (50k int32 a*90+3;
    about 15-25 us on an idle current core), to scale the speeds when the machine is shared."""
    a = np.arange(50_000, dtype=np.int32)
    best = float("inf")
    for _ in range(5):
        c0 = time.process_time()
        for _ in range(200):
            a * 90 + 3
        best = min(best, (time.process_time() - c0) / 200 * 1e6)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"loadavg_1min": load, "cpus": os.cpu_count(), "ref_op_cpu_us": best}


def table(results: dict) -> str:
    """bits per spike-pixel, then encode/decode M spike-pixels per CPU-second (wall MB/s are in the JSON)."""
    methods = ("pack", "simple-isi", *GENERAL)
    lines = [
        f"{'clip':36s} {'order0':>7s} " + " ".join(f"{m:>21s}" for m in methods),
        f"{'':36s} {'bpp':>7s} " + " ".join(f"{'bpp enc/dec Mpx/s':>21s}" for _ in methods),
    ]
    for clip, row in results.items():
        cells = []
        for m in methods:
            r = row[m]
            cells.append(f"{r['bpp']:6.4f} {r['encode_cpu_mpix_s']:5.1f}/{r['decode_cpu_mpix_s']:5.1f}")
        name = clip.split("/")[-1][:36]
        lines.append(f"{name:36s} {row['order0_entropy_bpp']:7.4f} " + " ".join(f"{c:>21s}" for c in cells))
    ratios = ", ".join(
        f"{clip.split('/')[-1][:24]} {row['pack_over_xz']:.3f}"
        for clip, row in results.items()
        if "pack_over_xz" in row
    )
    lines.append(f"pack size / xz -9e size: {ratios}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=0, help="frames per clip (0 = all; simulated: 256)")
    ap.add_argument("--quick", action="store_true", help="small crops only (seconds)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    before = machine_load()
    results = run(load_clips(args.frames, args.quick))
    print(table(results))
    doc = {
        "benchmark": "lossless",
        "units": {"bpp": "bits per spike-pixel", "mbps": "MB/s of .dat bytes", "mpix_s": "M spike-pixels/s"},
        "results": results,
        "machine": {"before": before, "after": machine_load()},
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0
