"""Foundation benchmark: simulator and .dat speed, TFP/TFI quality, general-purpose lossless compressors.

    .venv/bin/python benchmarks/bench_foundation.py [--quick] [--json OUT] [--images DIR] [--data DIR]

Prints a table and a JSON object. Protocol: TFP window 41 (and 11, to show the blur/noise trade-off on fast
motion), white rate 0.6 spikes/frame at full white, quality of the reconstruction centred on the middle spike
frame against the ground-truth luminance there; PSNR on [0, 1], SSIM Gaussian-weighted (sigma 1.5, data
range 1).
The spike-REDS part (frame 150 of each clip in DATA/spike-reds) is skipped when the folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from spikesci.io import read_dat, write_dat
from spikesci.io.dat import dat_frame_bytes
from spikesci.metrics import psnr, ssim
from spikesci.reconstruct import tfi, tfi_sequence, tfp, tfp_sequence
from spikesci.simulate import simulate_spikes

H, W = 250, 400
WHITE_RATE = 0.6
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CODECS = ("gzip", "bz2", "xz", "zstd-19", "zstd-22")
METHODS = {  # name -> reconstruction of the frame at `center`
    "tfp-41": lambda s, c: tfp(s, c, 41, WHITE_RATE),
    "tfp-11": lambda s, c: tfp(s, c, 11, WHITE_RATE),
    "tfi": lambda s, c: tfi(s, c, WHITE_RATE),
}


def best_time(fn, repeats: int) -> float:
    """Fastest of `repeats` runs (the least disturbed by the other jobs sharing the machine)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_simulator(frames: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    lum = np.broadcast_to(rng.random((H, W), dtype=np.float32), (frames, H, W))
    sec = best_time(lambda: simulate_spikes(lum, seed=0), repeats)
    return {"frames": frames, "height": H, "width": W, "frames_per_s": frames / sec}


def bench_dat(frames: int, repeats: int) -> dict:
    spikes = (np.random.default_rng(1).random((frames, H, W)) < 0.2).astype(np.uint8)
    mb = frames * dat_frame_bytes(H, W) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.dat"
        write_s = best_time(lambda: write_dat(path, spikes), repeats)
        read_s = best_time(lambda: np.array(read_dat(path, H, W)), repeats)  # np.array: really unpack
        assert np.array_equal(np.asarray(read_dat(path, H, W)), spikes)
    return {"frames": frames, "file_mb": mb, "write_mbps": mb / write_s, "read_mbps": mb / read_s,
            "read_frames_per_s": frames / read_s}


def bench_sequences(frames: int, repeats: int) -> dict:
    """Whole-clip reconstructions (every frame), in output frames per second."""
    spikes = (np.random.default_rng(2).random((frames, H, W)) < 0.2).astype(np.uint8)
    tfp_s = best_time(lambda: tfp_sequence(spikes, 41, WHITE_RATE), repeats)
    tfi_s = best_time(lambda: tfi_sequence(spikes, WHITE_RATE), repeats)
    return {
        "frames": frames,
        "tfp_sequence_frames_per_s": frames / tfp_s,
        "tfi_sequence_frames_per_s": frames / tfi_s,
    }


def quality(spikes: np.ndarray, truth: np.ndarray, center: int) -> dict:
    out = {}
    for name, method in METHODS.items():
        t0 = time.perf_counter()
        image = method(spikes, center)
        seconds = time.perf_counter() - t0
        out[name] = {"psnr": psnr(image, truth), "ssim": ssim(image, truth), "seconds": seconds}
    return out


def simulated_scenes(frames: int, seeds: int) -> tuple[dict, str]:
    """TFP/TFI on slow and fast scenes (helper module spikesci.simulate.scenes), mean over seeds."""
    try:
        from spikesci.simulate.scenes import make_scene, preset
    except ImportError:
        return {}, "spikesci.simulate.scenes not importable: simulated scenes skipped"
    results = {}
    for motion in ("static", "slow", "fast"):
        runs = []
        for seed in range(seeds):
            scene = make_scene(preset(motion, height=H, width=W, frames=frames), seed=seed)
            c = frames // 2
            runs.append(quality(scene.spikes, scene.luminance[c], c))
        results[motion] = {
            m: {k: float(np.mean([r[m][k] for r in runs])) for k in ("psnr", "ssim")} for m in METHODS
        }
        results[motion]["seeds"] = seeds
        results[motion]["frames"] = frames
    return results, f"scenes: static/slow/fast presets (NOISY camera), {H}x{W}x{frames} frames, {seeds} seeds"


def spike_reds(data: Path, images: Path | None) -> tuple[dict, str]:
    folder = data / "spike-reds"
    clips = sorted(folder.glob("*.dat")) if folder.is_dir() else []
    if not clips:
        return {}, f"spike-REDS clips not found in {folder}: skipped"
    results = {}
    for dat in clips:
        spikes = read_dat(dat, H, W)
        gt = np.asarray(Image.open(dat.with_suffix(".png")).convert("L"), dtype=np.float32) / 255.0
        results[dat.stem] = quality(spikes, gt, 150)
        if images is not None:
            row = np.concatenate([gt, tfp(spikes, 150, 41, WHITE_RATE), tfi(spikes, 150, WHITE_RATE)], axis=1)
            Image.fromarray((row * 255 + 0.5).astype(np.uint8)).save(images / f"{dat.stem}_gt_tfp_tfi.png")
    per_clip = [results[c.stem] for c in clips]
    results["mean"] = {m: {k: float(np.mean([r[m][k] for r in per_clip])) for k in ("psnr", "ssim")}
                       for m in METHODS}
    return results, f"spike-REDS: {len(clips)} clips, frame 150, ground truth PNG / 255"


def lossless(data: Path, frames: int, quick: bool) -> tuple[dict, str]:
    try:
        from spikesci.lossless.baselines import measure_general, order0_entropy
    except ImportError:
        return {}, "spikesci.lossless.baselines not importable: lossless baselines skipped"
    clips = {}
    reds = sorted((data / "spike-reds").glob("*.dat")) if (data / "spike-reds").is_dir() else []
    for dat in reds[: 1 if quick else None]:
        clips[f"reds:{dat.stem}"] = np.asarray(read_dat(dat, H, W, frames=min(frames, 301)))
    try:
        from spikesci.simulate.scenes import make_scene, preset

        clips["sim:slow"] = make_scene(preset("slow", height=H, width=W, frames=frames), seed=0).spikes
    except ImportError:
        pass
    results = {}
    for name, spikes in clips.items():
        results[name] = {"frames": int(spikes.shape[0]), "order0_bpp": order0_entropy(spikes)}
        for codec in tqdm(CODECS, desc=f"lossless {name}", leave=False, file=sys.stderr):
            r = measure_general(spikes, codec)
            results[name][codec] = {k: r[k] for k in ("bpp", "encode_mbps", "decode_mbps")}
    return results, f"lossless: bit-packed .dat bytes, {', '.join(CODECS)}; clips: {', '.join(clips)}"


def print_table(res: dict) -> None:
    print(f"simulator {H}x{W}: {res['simulator']['frames_per_s']:.0f} spike frames/s")
    d = res["dat_io"]
    print(f".dat I/O {H}x{W} ({d['frames']} frames, {d['file_mb']:.1f} MB): "
          f"write {d['write_mbps']:.0f} MB/s, read {d['read_mbps']:.0f} MB/s")
    r = res["sequences"]
    print(f"whole-clip reconstruction {H}x{W}: tfp_sequence {r['tfp_sequence_frames_per_s']:.0f} frames/s, "
          f"tfi_sequence {r['tfi_sequence_frames_per_s']:.0f} frames/s")
    rows = [(f"{k}", v) for k, v in res["scenes"].items()]
    rows += [(f"spike-REDS {k}", v) for k, v in res["spike_reds"].items()]
    if rows:
        print(f"\n{'clip':40s} " + " ".join(f"{m + ' PSNR':>12s} {m + ' SSIM':>12s}" for m in METHODS))
        for name, v in rows:
            print(f"{name:40s} " + " ".join(f"{v[m]['psnr']:12.2f} {v[m]['ssim']:12.3f}" for m in METHODS))
    if res["lossless"]:
        print(f"\n{'clip':34s} {'codec':8s} {'bpp':>7s} {'enc MB/s':>9s} {'dec MB/s':>9s}")
        for clip, v in res["lossless"].items():
            print(f"{clip:34s} {'order-0':8s} {v['order0_bpp']:7.3f}")
            for codec in CODECS:
                c = v[codec]
                speed = f"{c['encode_mbps']:9.1f} {c['decode_mbps']:9.1f}"
                print(f"{clip:34s} {codec:8s} {c['bpp']:7.3f} {speed}")
    for note in res["notes"]:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer frames and seeds (about half a minute)")
    parser.add_argument("--json", type=Path, help="also write the JSON results to this file")
    parser.add_argument("--images", type=Path, help="write spike-REDS GT | TFP | TFI PNGs into this folder")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"external data folder (default {DEFAULT_DATA})"
    )
    args = parser.parse_args(argv)
    if args.images:
        args.images.mkdir(parents=True, exist_ok=True)
    q = args.quick
    steps = ["simulator", "dat_io", "sequences", "scenes", "spike_reds", "lossless"]
    res: dict = {"quick": q, "white_rate": WHITE_RATE, "notes": []}
    for step in tqdm(steps, desc="bench_foundation", file=sys.stderr):
        if step == "simulator":
            res[step] = bench_simulator(100 if q else 400, 1 if q else 3)
        elif step == "dat_io":
            res[step] = bench_dat(200 if q else 600, 2 if q else 5)
        elif step == "sequences":
            res[step] = bench_sequences(100 if q else 301, 1 if q else 3)
        else:
            fn = {"scenes": lambda: simulated_scenes(61 if q else 81, 1 if q else 3),
                  "spike_reds": lambda: spike_reds(args.data, args.images),
                  "lossless": lambda: lossless(args.data, 100 if q else 301, q)}[step]
            res[step], note = fn()
            res["notes"].append(note)
    print_table(res)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
