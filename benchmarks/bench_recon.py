"""Reconstruction benchmark: TFP, TFI and the learned `net` (FEM -> FAM) on held-out data.

Data: held-out simulated scenes (images never used for training, seeds never used for training), slow and
fast motion separately, half with the noisy camera; and the two spike-REDS clips (frame 150 vs the PNG).
Reports PSNR/SSIM per method (`net4` is `net` with `phases=4`: four FEM block-grid placements averaged),
FEM FLOPs per pixel and parameters, FAM FLOPs per output pixel, seconds per reconstructed frame and FEM
spike frames per second at 250x400, and the Laplacian norms of the features
(paper Table II) with and without the constraint when an unconstrained FEM is given (--ablation-fem).
Writes OUT/bench_recon.json, OUT/bench_recon.png (GT / TFP / TFI / net) and prints JSON and a table.

    python benchmarks/bench_recon.py [--scenes 4] [--out bench_out/recon] [--ablation-fem PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spikesci.metrics import laplacian_norms, psnr, ssim
from spikesci.models.zoo import load_files, load_perception
from spikesci.reconstruct import tfi, tfp
from spikesci.simulate.camera import NOISY, CameraConfig
from spikesci.simulate.scenes import make_scene, preset

REDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "spike-reds"
SEED_BASE = 7_000_000  # scene seeds far from every training seed
METHODS = ("tfp", "tfi", "net", "net4")  # net4: the same model, four block-grid phases averaged (--phases 4)


def heldout_scenes(motion: str, count: int, height: int, width: int, frames: int):
    for i in range(count):
        camera = NOISY if i % 2 == 0 else CameraConfig()
        cfg = preset(motion, height=height, width=width, frames=frames, split="heldout", camera=camera)
        scene = make_scene(cfg, seed=SEED_BASE + 1000 * (motion == "fast") + i)
        yield f"{motion}-{i}-{scene.meta['image']}", scene.spikes, scene.luminance[frames // 2], frames // 2


def reds_clips():
    from PIL import Image

    from spikesci.io.dat import read_dat

    for dat in sorted(REDS.glob("*.dat")):
        png = dat.with_suffix(".png")
        if not png.exists():
            continue
        gt = np.asarray(Image.open(png).convert("L"), dtype=np.float32) / 255.0
        yield dat.stem, np.asarray(read_dat(dat, 250, 400)), gt, 150


def flops(model, *inputs) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(*inputs)
    return float(fc.get_total_flops())


def cost(perc) -> dict:
    fem, fam = perc.fem, perc.fam
    x = torch.zeros(1, perc.window, 64, 64)
    feats = torch.randn(1, perc.maps, perc.channels, 32, 32)
    return {
        "fem_flops_per_pixel": flops(fem, x) / 64**2,
        "fem_params": sum(p.numel() for p in fem.parameters()),
        "fam_flops_per_pixel": flops(fam, feats) / 64**2,
        "fam_params": sum(p.numel() for p in fam.parameters()),
        "feature_values_per_pixel": perc.channels / perc.scale**2,
        "stride": perc.stride, "window": perc.window, "maps": perc.maps,
    }


def speed(perc, threads: int) -> dict:
    """FEM spike frames/s and FAM seconds/frame at 250x400 (the FEM run map by map, as a camera would)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    clip = (rng.random((perc.window + 8 * perc.stride, 250, 400)) < 0.3).astype(np.uint8)
    frames = perc.default_frames(len(clip))
    perc.extract(clip, frames[:1])  # warm up
    t0, c0 = time.perf_counter(), time.process_time()
    for t in frames:
        feats, _ = perc.extract(clip, [t])
    fem_s = (time.perf_counter() - t0) / len(frames)
    fem_cpu = (time.process_time() - c0) / len(frames)  # CPU seconds: what the FEM costs on a free core
    feats, _ = perc.extract(clip, frames[: perc.maps])
    with torch.no_grad():
        perc.fam(feats[None])
        t0 = time.perf_counter()
        perc.fam(feats[None])
    fam_s = time.perf_counter() - t0
    torch.set_num_threads(old)
    return {"threads": threads, "load_average_1min": os.getloadavg()[0], "fem_seconds_per_map": fem_s,
            "fem_spike_frames_per_second": perc.stride / fem_s,
            "fem_cpu_seconds_per_map": fem_cpu,
            "fem_spike_frames_per_cpu_second": perc.stride / fem_cpu,
            "fem_fraction_of_real_time_20khz": perc.stride / fem_s / 20000, "fam_seconds_per_frame": fam_s,
            "net_seconds_per_frame": fam_s + perc.maps * fem_s}


def smoothness(fems: dict, clips: list) -> dict:
    """Laplacian L1/L2 of the features (raw, and divided by the feature std so scales compare)."""
    out = {}
    for name, perc in fems.items():
        rows = []
        for _, spikes, _, centre in clips:
            f, _ = perc.extract(spikes, [centre])
            l1, l2 = laplacian_norms(f)
            s = float(f.std())
            rows.append((l1, l2, l1 / s, l2 / s**2))
        m = np.mean(rows, axis=0)
        out[name] = {"l1": m[0], "l2": m[1], "l1_relative": m[2], "l2_relative": m[3]}
    return out


def grid(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ("GT", "TFP", "TFI", "net")
    fig, axes = plt.subplots(len(rows), 4, figsize=(12, 2.2 * len(rows) * 250 / 400 + 0.6 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, (name, images, scores) in enumerate(rows):
        for c, label in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            title = label if c == 0 else f"{label} {scores[c - 1]:.2f} dB"
            ax.set_title(title if r else f"{title}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=4, help="held-out scenes per motion")
    ap.add_argument("--size", default="250x400", help="held-out scene size HxW")
    ap.add_argument("--model", default="perception", help="shipped model name")
    ap.add_argument("--fem", help="FEM weights file (instead of the shipped model; needs --fam)")
    ap.add_argument("--fam", help="FAM weights file")
    ap.add_argument("--ablation-fem", help="FEM trained without the Laplacian constraint (Table II)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the speed measurement")
    ap.add_argument("--out", default="bench_out/recon")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    perc = load_files(args.fem, args.fam) if args.fem else load_perception(args.model)
    h, w = (int(v) for v in args.size.lower().split("x"))
    frames = 2 * (perc.lookback + perc.stride * (perc.maps // 2)) + 2 * perc.lookahead + 3

    groups = {"slow": list(heldout_scenes("slow", args.scenes, h, w, frames)),
              "fast": list(heldout_scenes("fast", args.scenes, h, w, frames)),
              "spike-reds": list(reds_clips())}
    results, per_clip, pictures = {}, [], []
    for group, clips in groups.items():
        scores = {m: {"psnr": [], "ssim": []} for m in METHODS}
        for name, spikes, gt, centre in tqdm(clips, desc=group, file=sys.stderr):
            imgs = {"tfp": tfp(spikes, centre), "tfi": tfi(spikes, centre),
                    "net": perc.reconstruct(spikes, [centre])[0][0],
                    "net4": perc.reconstruct(spikes, [centre], phases=4)[0][0]}
            row = {"group": group, "clip": name}
            for m, img in imgs.items():
                p, s = psnr(img, gt), ssim(img, gt)
                scores[m]["psnr"].append(p)
                scores[m]["ssim"].append(s)
                row[m] = {"psnr": p, "ssim": s}
            per_clip.append(row)
            if len([r for r in pictures if r[0].startswith(group)]) < (2 if group == "spike-reds" else 1):
                pictures.append((name, [gt, imgs["tfp"], imgs["tfi"], imgs["net"]],
                                 [row[m]["psnr"] for m in ("tfp", "tfi", "net")]))
        if clips:
            mean = {m: {k: float(np.mean(v)) for k, v in d.items()} for m, d in scores.items()}
            best = max(mean["tfp"]["psnr"], mean["tfi"]["psnr"])
            mean["net_gain_over_best_classic_db"] = mean["net"]["psnr"] - best
            mean["net4_gain_over_best_classic_db"] = mean["net4"]["psnr"] - best
            results[group] = mean
    report = {"model": perc.name, "checksum": perc.checksum, "size": [h, w], "scene_frames": frames,
              "results": results, "clips": per_clip, "cost": cost(perc), "speed": speed(perc, args.threads)}
    if args.ablation_fem:
        from spikesci.models.zoo import Perception
        from spikesci.train.loop import load_fem

        plain = Perception(load_fem(args.ablation_fem), perc.fam, "no-constraint")
        report["laplacian"] = smoothness({"with_constraint": perc, "without_constraint": plain},
                                         groups["slow"] + groups["fast"] + groups["spike-reds"])
    else:
        report["laplacian"] = smoothness({"with_constraint": perc}, groups["slow"] + groups["fast"])
    grid(pictures, out / "bench_recon.png")
    (out / "bench_recon.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "clips"}, indent=2))
    heads = "".join(f"{m.upper() + ' PSNR/SSIM':>18}" for m in METHODS)
    print(f"\n{'data':<12}{heads}{'net gain':>10}{'net4 gain':>10}")
    for group, r in results.items():
        cells = "".join(f"{r[m]['psnr']:>11.2f} / {r[m]['ssim']:.3f}" for m in METHODS)
        print(f"{group:<12}{cells}{r['net_gain_over_best_classic_db']:>+9.2f}"
              f"{r['net4_gain_over_best_classic_db']:>+10.2f}")
    c, s = report["cost"], report["speed"]
    print(f"FEM {c['fem_flops_per_pixel'] / 1e3:.2f} kFLOPs/px/map, {c['fem_params']} params; "
          f"FAM {c['fam_flops_per_pixel'] / 1e3:.1f} kFLOPs/px, {c['fam_params']} params")
    print(f"FEM {s['fem_spike_frames_per_second']:.0f} spike frames/s at 250x400 on {s['threads']} threads "
          f"({100 * s['fem_fraction_of_real_time_20khz']:.1f}% of 20 kHz real time, "
          f"load {s['load_average_1min']:.1f}); {s['fem_spike_frames_per_cpu_second']:.0f} per CPU-second;"
          f" net {s['net_seconds_per_frame']:.2f} s/frame")
    for k, v in report["laplacian"].items():
        print(f"Laplacian {k}: L1 {v['l1']:.4f} L2 {v['l2']:.5f} (relative L1 {v['l1_relative']:.4f})")
    print(f"wrote {out / 'bench_recon.json'} and {out / 'bench_recon.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
