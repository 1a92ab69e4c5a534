"""Reconstruction benchmark: TFP, TFI, the previous `net` (release 2), the new `net` (release 3) and the
reference network (BaseNet layout on raw spikes, not split into end and cloud side) on held-out data; the
new `net` both in one pass and averaged over 8 mirrored / turned views (`net_x8`, the CLI's default for one
picture).

Data: held-out simulated scenes (images and seeds never used for training), slow and fast motion, half with
the noisy camera; and the two spike-REDS clips (frame 150 vs the PNG). Reports PSNR/SSIM per method, each
model's end-side cost (FEM FLOPs per pixel per map, values per pixel per map, spike frames per CPU-second
at 250x400) and cloud-side FLOPs, and the Laplacian norms of the features (paper Table II). Writes
OUT/bench_recon.json and OUT/bench_recon.png (GT / TFP / old net / new net on spike-REDS, and the real UHSR
recording with automatic exposure), and prints JSON and a table.

    python benchmarks/bench_recon.py [--scenes 4] [--reference basenet.pt] [--out bench_out/recon]
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
from spikesci.models.zoo import DEFAULT_MODEL, load_files, load_perception, load_reconstruction
from spikesci.reconstruct import tfi, tfp
from spikesci.simulate.camera import NOISY, CameraConfig
from spikesci.simulate.scenes import make_scene, preset

REDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "spike-reds"
SEED_BASE = 7_000_000  # scene seeds far from every training seed
REAL = REDS.parent / "real" / "uhsr_ucaltech_4144_helicopter.npz"
# net_r2: release 2; net_x8: the new net averaged over 8 mirrored / turned views (what
# `reconstruct --method net` writes for one picture); reference: BaseNet layout
METHODS = ("tfp", "tfi", "net_r2", "net", "net_x8", "reference")
ENSEMBLE = 8


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


def flops_per_pixel(model, *inputs) -> float:
    return flops(model, *inputs) / (inputs[0].shape[-1] * inputs[0].shape[-2])


def cost(perc) -> dict:
    """End side (FEM, per map) and cloud side (FAM, per output pixel) of a perception model."""
    x = torch.zeros(1, perc.window, 64, 64)
    side = 64 // perc.scale
    feats = torch.randn(1, perc.maps, perc.channels, side, side)
    return {
        "fem_flops_per_pixel": flops(perc.fem, x) / 64**2,
        "fem_params": sum(p.numel() for p in perc.fem.parameters()),
        "fam_flops_per_pixel": flops(perc.fam, feats) / 64**2,
        "fam_params": sum(p.numel() for p in perc.fam.parameters()),
        "feature_values_per_pixel": perc.channels / perc.scale**2,
        "stride": perc.stride, "window": perc.window, "maps": perc.maps,
    }


def speed(perc, threads: int) -> dict:
    """FEM spike frames per second and per CPU-second at 250x400 (map by map, as a camera would run it)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    clip = (rng.random((perc.window + 6 * perc.stride, 250, 400)) < 0.3).astype(np.uint8)
    frames = perc.default_frames(len(clip))
    perc.extract(clip, frames[:1])  # warm up
    t0, c0 = time.perf_counter(), time.process_time()
    for t in frames:
        perc.extract(clip, [t])
    fem_s = (time.perf_counter() - t0) / len(frames)
    fem_cpu = (time.process_time() - c0) / len(frames)
    perc.reconstruct(clip, [frames[len(frames) // 2]])  # warm up (first call sets up the kernels)
    t0 = time.perf_counter()
    perc.reconstruct(clip, [frames[len(frames) // 2]])
    net_s = time.perf_counter() - t0
    torch.set_num_threads(old)
    return {"threads": threads, "load_average_1min": os.getloadavg()[0], "fem_seconds_per_map": fem_s,
            "fem_spike_frames_per_second": perc.stride / fem_s,
            "fem_spike_frames_per_cpu_second": perc.stride / fem_cpu,
            "fem_fraction_of_real_time_20khz": perc.stride / fem_s / 20000, "net_seconds_per_frame": net_s}


def load_reference(path: str | None):
    """The BaseNet reference (`spikesci train --stage reference`), or None when no file is given/found."""
    if not path or not Path(path).exists():
        return None
    from spikesci.models.basenet import BaseNet, BaseNetConfig

    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = BaseNet(BaseNetConfig.from_dict(blob["config"]))
    net.load_state_dict(blob["state"])
    return net.eval()


def reference_image(net, spikes: np.ndarray, centre: int) -> np.ndarray:
    from spikesci.models.zoo import _mirror

    idx = _mirror(centre - net.frames // 2 + np.arange(net.frames), len(spikes))
    with torch.no_grad():
        out = net(torch.from_numpy(np.asarray(spikes[idx]))[None].float())
    return out[0, 0].clamp(0, 1).numpy()


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
    """One row per clip: (name, [(label, image or None)], ...); None cells stay blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(cells) for _, cells in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.2 * cols, 2.4 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, (name, cells) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(cells) or cells[c][1] is None:
                ax.axis("off")
                continue
            label, img = cells[c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def real_row(old, new) -> tuple[str, list] | None:
    """The real UHSR recording with automatic exposure: TFP / old net / new net (no ground truth)."""
    if not REAL.exists():
        return None
    from spikesci.io import read_spikes
    from spikesci.reconstruct.exposure import apply_gain, auto_white_rate

    spikes = np.asarray(read_spikes(REAL))
    centre, white = len(spikes) // 2, auto_white_rate(spikes)
    img_old = old.reconstruct(spikes, [centre])[0][0]
    img_new = new.reconstruct(spikes, [centre])[0][0]
    return (f"UHSR real (auto white {white:.3f})",
            [("no ground truth", None), ("TFP", tfp(spikes, centre, white_rate=white)),
             ("old net", apply_gain(img_old, 0.6, white)), ("new net", apply_gain(img_new, 0.6, white))])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=4, help="held-out scenes per motion")
    ap.add_argument("--size", default="250x400", help="held-out scene size HxW")
    ap.add_argument("--fem", help="release-3 FEM weights file (instead of the shipped model; needs --fam)")
    ap.add_argument("--fam", help="release-3 FAM weights file")
    ap.add_argument("--reference", default=str(Path(__file__).resolve().parents[1] / "checkpoints"
                                               / "reference-basenet.pt"),
                    help="BaseNet reference weights (spikesci train --stage reference; the committed one: "
                    "2250 steps); skipped if absent")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the speed measurement")
    ap.add_argument("--out", default="bench_out/recon")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    old = load_perception(DEFAULT_MODEL)
    new = load_files(args.fem, args.fam, "perception-r3 (files)") if args.fem else load_reconstruction()
    ref = load_reference(args.reference)
    h, w = (int(v) for v in args.size.lower().split("x"))
    frames = 2 * max(old.lookback + old.stride * (old.maps // 2) + old.lookahead,
                     new.lookback + new.stride * (new.maps // 2) + new.lookahead) + 3
    groups = {"slow": list(heldout_scenes("slow", args.scenes, h, w, frames)),
              "fast": list(heldout_scenes("fast", args.scenes, h, w, frames)),
              "spike-reds": list(reds_clips())}
    methods = [m for m in METHODS if m != "reference" or ref is not None]
    results, per_clip, pictures = {}, [], []
    for group, clips in groups.items():
        scores = {m: {"psnr": [], "ssim": []} for m in methods}
        for name, spikes, gt, centre in tqdm(clips, desc=group, file=sys.stderr):
            imgs = {"tfp": tfp(spikes, centre), "tfi": tfi(spikes, centre),
                    "net_r2": old.reconstruct(spikes, [centre])[0][0],
                    "net": new.reconstruct(spikes, [centre])[0][0],
                    "net_x8": new.reconstruct(spikes, [centre], ensemble=ENSEMBLE)[0][0]}
            if ref is not None:
                imgs["reference"] = reference_image(ref, spikes, centre)
            row = {"group": group, "clip": name}
            for m in methods:
                p, s = psnr(imgs[m], gt), ssim(imgs[m], gt)
                scores[m]["psnr"].append(p)
                scores[m]["ssim"].append(s)
                row[m] = {"psnr": p, "ssim": s}
            per_clip.append(row)
            if group == "spike-reds" and len(pictures) < 2:
                pictures.append((name, [("ground truth", gt)] + [
                    (f"{label} {row[m]['psnr']:.2f} dB", imgs[m])
                    for m, label in (("tfp", "TFP"), ("net_r2", "old net"), ("net", "new net"))]))
        if clips:
            mean = {m: {k: float(np.mean(v)) for k, v in d.items()} for m, d in scores.items()}
            best = max(mean["tfp"]["psnr"], mean["tfi"]["psnr"])
            mean["net_gain_over_best_classic_db"] = mean["net"]["psnr"] - best
            mean["net_gain_over_release2_db"] = mean["net"]["psnr"] - mean["net_r2"]["psnr"]
            results[group] = mean
    real = real_row(old, new)
    if real:
        pictures.append(real)
    models = {"net_r2": old, "net": new}
    report = {"models": {k: {"name": p.name, "checksum": p.fem_checksum} for k, p in models.items()},
              "size": [h, w], "scene_frames": frames, "results": results, "clips": per_clip,
              "cost": {k: cost(p) for k, p in models.items()},
              "speed": {k: speed(p, args.threads) for k, p in models.items()},
              "laplacian": smoothness(models, groups["slow"] + groups["fast"] + groups["spike-reds"])}
    if ref is not None:
        x = torch.zeros(1, ref.frames, 64, 64)
        report["cost"]["reference"] = {"flops_per_pixel": flops_per_pixel(ref, x),
                                       "params": sum(p.numel() for p in ref.parameters()),
                                       "end_side": "none (the whole network runs on raw spikes)"}
    grid(pictures, out / "bench_recon.png")
    (out / "bench_recon.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "clips"}, indent=2))
    heads = "".join(f"{m.upper() + ' PSNR/SSIM':>20}" for m in methods)
    print(f"\n{'data':<12}{heads}{'net-classic':>12}{'net-r2':>8}")
    for group, r in results.items():
        cells = "".join(f"{r[m]['psnr']:>13.2f} / {r[m]['ssim']:.3f}" for m in methods)
        print(f"{group:<12}{cells}{r['net_gain_over_best_classic_db']:>+12.2f}"
              f"{r['net_gain_over_release2_db']:>+8.2f}")
    for k in models:
        c, sp = report["cost"][k], report["speed"][k]
        print(f"{k:<7} FEM {c['fem_flops_per_pixel'] / 1e3:.1f} kFLOPs/px/map, "
              f"{c['feature_values_per_pixel']:g} values/px/map, {c['fem_params']} params; "
              f"FAM {c['fam_flops_per_pixel'] / 1e3:.1f} kFLOPs/px, {c['fam_params']} params; "
              f"FEM {sp['fem_spike_frames_per_cpu_second']:.0f} spike frames per CPU-second at 250x400; "
              f"net {sp['net_seconds_per_frame']:.2f} s/frame")
    if ref is not None:
        c = report["cost"]["reference"]
        print(f"reference {c['flops_per_pixel'] / 1e3:.1f} kFLOPs/px, {c['params']} params")
    for k, v in report["laplacian"].items():
        print(f"Laplacian {k}: L1 {v['l1']:.4f} L2 {v['l2']:.5f} (relative L1 {v['l1_relative']:.4f})")
    print(f"wrote {out / 'bench_recon.json'} and {out / 'bench_recon.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
