"""Probe for the CAAS issue: release-3 features through x265 against the release-3 pictures through x265.

CAAS via a conventional codec (the paper's "CAAS via VTM"): the FEM's 2 feature channels of every map are
decorrelated by a per-clip KLT, each component is quantised to 8 bits (its own range) and coded as a grey
video by x265 (PyAV), the main component at CRF c and the residual at c + offset (offset "drop" = residual
not sent); the cloud decodes, inverts the KLT and runs the FAM. ATC: the release-3 `net` picture of every map
time coded by x265 at CRF c. Both cover the same maps, so bits per spike-pixel share one denominator
(maps x stride x H x W). Scored at the clip's ground-truth frame; BD-rate of the best CAAS point set against
ATC (negative = CAAS saves bits). Prints JSON and a table.

    python benchmarks/bench_caas_conventional.py [--fem F --fam F] [--maps 14]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from spikesci.baselines.pyav import X265
from spikesci.metrics import psnr
from spikesci.metrics.bjontegaard import bd_rate
from spikesci.models.zoo import load_files, load_reconstruction

REDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "spike-reds"
CRFS = (12, 17, 22, 27, 32, 37)
OFFSETS = (0, 6, 12, "drop")
SIDE_BYTES = 4 * (4 + 2 + 2 * 2)  # KLT basis, means and per-component ranges as float32


def klt(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, C, H, W) -> components (C, N, H, W) by decreasing energy, basis (C, C), mean (C,)."""
    c = feats.shape[1]
    x = feats.transpose(1, 0, 2, 3).reshape(c, -1)
    mean = x.mean(1)
    vals, vecs = np.linalg.eigh(np.cov(x - mean[:, None]))
    basis = vecs[:, ::-1]
    comps = (basis.T @ (x - mean[:, None])).reshape(c, *feats.shape[:1], *feats.shape[2:])
    return comps, basis, mean


def quantise(comp: np.ndarray) -> tuple[np.ndarray, float, float]:
    lo, hi = np.percentile(comp, [0.01, 99.99])
    q = np.clip(np.round((comp - lo) / max(hi - lo, 1e-6) * 255), 0, 255).astype(np.uint8)
    return q, float(lo), float(hi)


def run_clip(perc, spikes: np.ndarray, gt: np.ndarray, centre: int, maps: int) -> dict:
    stride = perc.stride
    times = centre + stride * (np.arange(maps) - maps // 2)
    feats, _ = perc.extract(spikes, times)
    feats = feats.numpy()
    k = maps // 2
    window = slice(k - perc.maps // 2, k + perc.maps // 2 + 1)
    t, h, w = len(times) * stride, spikes.shape[1], spikes.shape[2]
    denom = t * h * w
    x265 = X265()

    def fam(f: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return perc.fam(torch.from_numpy(f[window].astype(np.float32))[None])[0, 0].clamp(0, 1).numpy()

    out = {"uncoded_psnr": psnr(fam(feats), gt), "atc": [], "caas": []}
    comps, basis, mean = klt(feats)
    out["klt_energy_main"] = float(comps[0].var() / (comps[0].var() + comps[1:].var(axis=(1, 2, 3)).sum()))
    planes = [quantise(c) for c in comps]
    coded = {}
    for crf in CRFS + tuple(c + o for c in CRFS for o in (6, 12)):
        for i, (q, lo, hi) in enumerate(planes):
            if (i, crf) not in coded and crf <= 51:
                r = x265.roundtrip(q, crf, gop=maps)
                coded[(i, crf)] = (r.frames.astype(np.float32) / 255 * (hi - lo) + lo, r.num_bytes)
    for crf in CRFS:
        for off in OFFSETS:
            main, b0 = coded[(0, crf)]
            if off == "drop":
                rest, b1 = np.zeros_like(comps[1:]), 0
            else:
                rest_list = [coded[(i, crf + off)] for i in range(1, len(planes))]
                rest, b1 = np.stack([r for r, _ in rest_list]), sum(b for _, b in rest_list)
            comp_hat = np.concatenate([main[None], rest])
            c = comp_hat.shape[0]
            f_hat = (basis @ comp_hat.reshape(c, -1)).reshape(c, len(times), h, w) + mean[:, None, None, None]
            img = fam(f_hat.transpose(1, 0, 2, 3))
            out["caas"].append({"crf": crf, "offset": off, "bpp": 8 * (b0 + b1 + SIDE_BYTES) / denom,
                                "psnr": psnr(img, gt)})
    images = perc.reconstruct(spikes, times)[0]
    pics = np.clip(np.round(images * 255), 0, 255).astype(np.uint8)
    for crf in CRFS:
        r = x265.roundtrip(pics, crf, gop=maps)
        out["atc"].append({"crf": crf, "bpp": 8 * r.num_bytes / denom,
                           "psnr": psnr(r.frames[k].astype(np.float32) / 255, gt)})
    return out


def pareto(points: list[dict]) -> list[dict]:
    pts = sorted(points, key=lambda p: p["bpp"])
    front, best = [], -1.0
    for p in pts:
        if p["psnr"] > best:
            front.append(p)
            best = p["psnr"]
    return front


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fem")
    ap.add_argument("--fam")
    ap.add_argument("--maps", type=int, default=14, help="feature maps / pictures per clip (a GOP)")
    ap.add_argument("--out", default="bench_out/caas_conventional.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from PIL import Image

    from spikesci.io.dat import read_dat

    perc = load_files(args.fem, args.fam) if args.fem else load_reconstruction(caas=True)
    report = {"model": perc.name, "clips": {}}
    for dat in sorted(REDS.glob("*.dat")):
        gt = np.asarray(Image.open(dat.with_suffix(".png")).convert("L"), dtype=np.float32) / 255
        r = run_clip(perc, np.asarray(read_dat(dat, 250, 400)), gt, 150, args.maps)
        front = pareto(r["caas"])
        atc = r["atc"]
        r["bd_rate_caas_vs_atc_percent"] = bd_rate([p["bpp"] for p in atc], [p["psnr"] for p in atc],
                                                   [p["bpp"] for p in front], [p["psnr"] for p in front])
        report["clips"][dat.stem] = r
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk not in ("caas", "atc")}
                      for k, v in report["clips"].items()}, indent=2))
    for name, r in report["clips"].items():
        print(f"\n{name}: uncoded features {r['uncoded_psnr']:.2f} dB; BD-rate CAAS-x265 vs ATC-x265 "
              f"{r['bd_rate_caas_vs_atc_percent']:+.1f} %")
        print(f"{'':>6}{'ATC bpp':>10}{'dB':>7}   {'CAAS (best offset) bpp':>22}{'dB':>7}")
        for a in r["atc"]:
            same = [p for p in r["caas"] if p["crf"] == a["crf"]]
            best = max(same, key=lambda p: p["psnr"] - 1e3 * p["bpp"])
            print(f"crf {a['crf']:<3}{a['bpp']:>9.4f}{a['psnr']:>7.2f}   {best['bpp']:>15.4f} "
                  f"({best['offset']}){best['psnr']:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
