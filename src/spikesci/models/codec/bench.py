"""Rate-distortion benchmark of `.sci` (issue 5): actual file sizes vs PSNR of decoded reconstructions.

Data: held-out simulated scenes (held-out images and seeds, slow and fast motion; PSNR at the interior maps,
whose FAM windows need no mirroring) and the spike-REDS clips (frame 150 against the ground-truth PNG, with
a map centred on frame 150). Each is coded at every quality; beside it: the uncompressed `net` (FEM + FAM on
the same maps), TFP, and the lossless baselines' bpp (the project's archive, xz, order-0 entropy).
Also seconds per feature map and FLOPs per pixel, end side (FEM + codec encoder with its reconstruction loop)
vs cloud side (codec decoder + FMVR + FAM).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spikesci.metrics import psnr, ssim
from spikesci.models.codec.codec import MOTION_MODES

REDS = Path(__file__).resolve().parents[5] / "shared" / "data" / "spike-reds"


def _sim_items(quick: bool) -> list[dict]:
    from spikesci.simulate.scenes import make_scene, preset

    h, w, seeds = (96, 128, [0]) if quick else (128, 192, [0, 1])
    items = []
    for kind in ("slow", "fast"):
        for s in seeds:
            cfg = preset(kind, height=h, width=w, frames=150, split="heldout")
            scene = make_scene(cfg, seed=10**6 + 77 + s)
            items.append({"group": f"sim-{kind}", "name": f"sim-{kind}-{s}", "spikes": scene.spikes,
                          "truth": scene.luminance, "map_frames": None})
    return items


def _reds_items(folder: Path, quick: bool) -> list[dict]:
    from PIL import Image

    from spikesci.io.dat import read_dat

    items = []
    for dat in sorted(folder.glob("*.dat"))[: 1 if quick else None]:
        spikes = np.asarray(read_dat(dat, 250, 400))
        gt = np.asarray(Image.open(dat.with_suffix(".png")).convert("L"), dtype=np.float32) / 255.0
        truth = {150: gt}
        items.append({"group": "spike-reds", "name": dat.stem, "spikes": spikes, "truth": truth,
                      "map_frames": 150})
    return items


def _map_frames(per, t_len: int, anchor: int | None) -> np.ndarray:
    if anchor is None:
        return per.default_frames(t_len)
    from spikesci.sci_frames import aligned_frames

    return aligned_frames(t_len, per.stride, anchor, per.lookback, t_len - 1 - per.lookahead)


def _eval_indices(frames: np.ndarray, item: dict, maps: int) -> list[int]:
    if item["group"] == "spike-reds":
        return [int(np.flatnonzero(frames == 150)[0])]
    half = maps // 2
    inner = list(range(half, len(frames) - half))
    return inner or [len(frames) // 2]


def _truth(item: dict, frame: int) -> np.ndarray:
    return item["truth"][frame]


def flops_per_pixel(sm, spikes: np.ndarray, frames: np.ndarray) -> dict:
    """FLOPs per image pixel per map: FEM, codec encoder (end side), codec decoder + FMVR, FAM (cloud)."""
    from torch.utils.flop_counter import FlopCounterMode

    per, codec = sm.perception, sm.codec
    n = min(3, len(frames))
    pix = spikes.shape[1] * spikes.shape[2]
    with FlopCounterMode(display=False) as fc:
        feats, _ = per.extract(spikes, frames[:n])
    fem = fc.get_total_flops() / n
    enc = {}
    for mode in MOTION_MODES:
        with FlopCounterMode(display=False) as fc:  # what the end side runs
            payload, _ = codec.compress(feats, codec.levels - 1, flows=False, motion=mode)
        enc[mode] = fc.get_total_flops() / n
    # block matching: per candidate ~3 ops per channel per pixel (coarse at 1/16 of the pixels, 81 candidates;
    # refinement 25 candidates at full feature resolution with bilinear warps ~8 ops per channel); rdo adds
    # the global-motion search (18 whole-map warps) and the 15x15 smoothing of the field
    c, h, w = feats.shape[1:]
    me = (n - 1) / n * (81 * 3 * c * h * w / 16 + 25 * 11 * c * h * w)
    me_rdo = me + (n - 1) / n * (18 * 11 * c * h * w + 2 * 225 * h * w)
    with FlopCounterMode(display=False) as fc:
        out = codec.decompress(payload)
    dec = fc.get_total_flops() / n
    win = out["x_hat"].float()[None].repeat(1, -(-per.maps // n), 1, 1, 1)[:, :per.maps]
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        sm.fam(win, None)
    fam = fc.get_total_flops()
    end = fem + enc["rdo"] + me_rdo
    end_local = fem + enc["local"] + me
    cloud = dec + fam
    return {"fem": fem / pix, "codec_encoder": (enc["rdo"] + me_rdo) / pix,
            "codec_encoder_local": (enc["local"] + me) / pix, "codec_decoder": dec / pix, "fam": fam / pix,
            "end_side": end / pix, "end_side_local": end_local / pix, "cloud_side": cloud / pix,
            "end_over_cloud": end / cloud, "end_over_cloud_local": end_local / cloud}


def run_item(sm, item: dict, tmp: Path, qualities: list[int]) -> dict:
    from spikesci.lossless import pack_spikes
    from spikesci.lossless.baselines import measure_general, order0_entropy
    from spikesci.reconstruct import tfp
    from spikesci.sci import decode_features, default_gop, encode_spikes, reconstruct_maps

    spikes = item["spikes"]
    t_len, h, w = spikes.shape
    per = sm.perception
    frames = _map_frames(per, t_len, item["map_frames"])
    idx = _eval_indices(frames, item, per.maps)
    eval_frames = frames[idx]
    truths = [_truth(item, int(f)) for f in eval_frames]
    net, _ = per.reconstruct(spikes, frames=eval_frames)
    row = {"name": item["name"], "group": item["group"], "frames": t_len, "height": h, "width": w,
           "maps": len(frames), "eval_frames": [int(f) for f in eval_frames],
           "net_psnr": float(np.mean([psnr(a, b) for a, b in zip(net, truths)])),
           "tfp_psnr": float(np.mean([psnr(tfp(spikes, int(f)), b) for f, b in zip(eval_frames, truths)])),
           "order0_bpp": order0_entropy(spikes), "xz_bpp": measure_general(spikes, "xz")["bpp"]}
    arch = tmp / "a.spkz"
    pack_spikes(spikes, arch)
    row["archive_bpp"] = 8.0 * arch.stat().st_size / spikes.size
    row["codec"] = []
    gop = default_gop(sm.name)  # the codec's own; the ATC pictures get the same
    for q in qualities:
        path = tmp / f"q{q}.sci"
        t0 = time.time()
        st = encode_spikes(spikes, path, q, model=sm.name, frames=frames, account=True, gop=gop)
        t_enc = time.time() - t0
        t0 = time.time()
        _, hd, feats, flows = decode_features(path, model=sm.name)
        t_feat = time.time() - t0
        t0 = time.time()
        imgs = reconstruct_maps(sm, feats, flows, hd, idx)
        t_fam = (time.time() - t0) / len(idx)
        own = reconstruct_maps(sm, feats, [None] * len(flows), hd, idx)
        row["codec"].append({
            "quality": q, "bytes": st["bytes"], "bpp": st["bpp"],
            "psnr": float(np.mean([psnr(a, b) for a, b in zip(imgs, truths)])),
            "ssim": float(np.mean([ssim(a, b) for a, b in zip(imgs, truths)])),
            "psnr_fam_flows": float(np.mean([psnr(a, b) for a, b in zip(own, truths)])),
            "encode_s_per_map": t_enc / len(frames), "decode_s_per_map": t_feat / len(frames) + t_fam,
            "bits_per_map": {k: v / len(frames) for k, v in st["bits_by_part"].items()}})
    if item["group"] == "spike-reds":
        row["atc_bits_per_image"] = atc_equal_psnr(spikes, frames, idx, truths, row["codec"], gop)
    return row


ATC_CODECS = {"x265": (17, 22, 27, 32, 37, 42, 47), "svt-av1": (23, 31, 39, 47, 55, 63)}


def atc_equal_psnr(spikes: np.ndarray, frames: np.ndarray, idx: list[int], truths: list, curve: list[dict],
                   gop: int = 8) -> dict:
    """Bits per image x265 / SVT-AV1 spend on the same maps' `net` pictures (release 3, what `reconstruct
    --method net` gives) at the PSNR each quality of the codec reaches (log-rate interpolation on the
    conventional codec's curve; None outside it)."""
    from spikesci.baselines import get_codec
    from spikesci.models.zoo import load_reconstruction

    pics, _ = load_reconstruction(caas=True).reconstruct(spikes, frames=frames)
    pics = np.round(np.clip(pics, 0, 1) * 255).astype(np.uint8)
    out = {}
    for name, ladder in ATC_CODECS.items():
        codec = get_codec(name)
        if not codec.available():
            continue
        pts = []
        for crf in ladder:
            coded = codec.roundtrip(pics, crf, gop=gop)  # the codec's own GOP: equal random access
            dec = coded.frames.astype(np.float32) / 255
            p = float(np.mean([psnr(dec[i], t) for i, t in zip(idx, truths)]))
            pts.append((p, 8.0 * coded.num_bytes / len(frames)))
        pts.sort()
        ps, bits = np.array([a for a, _ in pts]), np.log(np.array([b for _, b in pts]))
        out[name] = {"curve": [{"psnr": a, "bits_per_image": b} for a, b in pts],
                     "at_quality": [float(np.exp(np.interp(c["psnr"], ps, bits)))
                                    if ps[0] <= c["psnr"] <= ps[-1] else None for c in curve]}
    return out


def summarize(rows: list[dict], qualities: list[int]) -> dict:
    groups = {}
    for g in sorted({r["group"] for r in rows}):
        rs = [r for r in rows if r["group"] == g]
        curve = []
        for i, q in enumerate(qualities):
            curve.append({"quality": q, "bpp": float(np.mean([r["codec"][i]["bpp"] for r in rs])),
                          "psnr": float(np.mean([r["codec"][i]["psnr"] for r in rs])),
                          "psnr_fam_flows": float(np.mean([r["codec"][i]["psnr_fam_flows"] for r in rs])),
                          "ssim": float(np.mean([r["codec"][i]["ssim"] for r in rs]))})
        net = float(np.mean([r["net_psnr"] for r in rs]))
        top = curve[-1]
        groups[g] = {"curve": curve, "net_psnr": net, "tfp_psnr": float(np.mean([r["tfp_psnr"] for r in rs])),
                     "archive_bpp": float(np.mean([r["archive_bpp"] for r in rs])),
                     "xz_bpp": float(np.mean([r["xz_bpp"] for r in rs])),
                     "order0_bpp": float(np.mean([r["order0_bpp"] for r in rs])),
                     "floor_ok": bool(top["psnr"] >= net - 1.5 and top["bpp"] < 0.2),
                     "floor_ok_fam_flows": bool(top["psnr_fam_flows"] >= net - 1.5 and top["bpp"] < 0.2),
                     "top_gap_db": net - top["psnr"], "top_gap_db_fam_flows": net - top["psnr_fam_flows"]}
    return groups


def plot(groups: dict, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.8), squeeze=False)
    for ax, (g, d) in zip(axes[0], groups.items()):
        bpp = [c["bpp"] for c in d["curve"]]
        ax.plot(bpp, [c["psnr"] for c in d["curve"]], "o-", label=".sci, decoded FMVR flows")
        ax.plot(bpp, [c["psnr_fam_flows"] for c in d["curve"]], "s--", label=".sci, FAM's own flows")
        ax.axhline(d["net_psnr"], ls="--", c="k", label="net, uncompressed")
        ax.axhline(d["tfp_psnr"], ls=":", c="gray", label="TFP, uncompressed")
        for name, c in (("archive_bpp", "tab:green"), ("xz_bpp", "tab:red")):
            ax.axvline(d[name], ls="-.", c=c, label=f"lossless {name[:-4]} ({d[name]:.3f} bpp)")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xticks([0.01, 0.03, 0.1, 0.3, 1.0])
        ax.set_xlabel("bits per spike-pixel (file size)")
        ax.set_ylabel("PSNR of reconstruction (dB)")
        ax.set_title(g)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(groups: dict, flops: dict) -> str:
    head = (f"{'data':<12} {'quality':>7} {'bpp':>8} {'PSNR':>7} {'SSIM':>6} {'PSNR*':>7}   net PSNR  "
            "TFP PSNR  archive/xz   (PSNR* = FAM's own flows)")
    lines = [head]
    for g, d in groups.items():
        for c in d["curve"]:
            lines.append(f"{g:<12} {c['quality']:>7} {c['bpp']:>8.4f} {c['psnr']:>7.2f} {c['ssim']:>6.3f} "
                         f"{c['psnr_fam_flows']:>7.2f}   "
                         f"{d['net_psnr']:8.2f}  {d['tfp_psnr']:8.2f}  "
                         f"{d['archive_bpp']:.3f}/{d['xz_bpp']:.3f}")
    lines.append(f"FLOPs/pixel/map: end side {flops['end_side']:.0f} (FEM {flops['fem']:.0f} + encoder "
                 f"{flops['codec_encoder']:.0f}), cloud side {flops['cloud_side']:.0f} (decoder "
                 f"{flops['codec_decoder']:.0f} + FAM {flops['fam']:.0f}); "
                 f"end/cloud {flops['end_over_cloud']:.2f} (--motion local: encoder "
                 f"{flops['codec_encoder_local']:.0f}, end/cloud {flops['end_over_cloud_local']:.2f})")
    return "\n".join(lines)


def bits_table(rows: list[dict], qualities: list[int]) -> str:
    """Bits per map by part (mean over the spike-REDS clips) beside x265 / SVT-AV1 bits per `net` image at
    equal PSNR."""
    reds = [r for r in rows if r["group"] == "spike-reds"] or rows
    parts = list(reds[0]["codec"][0]["bits_per_map"])
    short = [p.replace("hyperprior", "hyper").replace("latents", "lat") for p in parts]
    head = f"{'quality':>7}" + "".join(f"{s:>13}" for s in short) + f"{'total':>9}{'x265':>9}{'svt-av1':>9}"
    lines = ["bits per feature map by part (spike-REDS mean); x265 / SVT-AV1: bits per net image at "
             "equal PSNR", head]
    for i, q in enumerate(qualities):
        vals = [float(np.mean([r["codec"][i]["bits_per_map"][p] for r in reds])) for p in parts]
        atc = []
        for name in ("x265", "svt-av1"):
            got = [r.get("atc_bits_per_image", {}).get(name, {}).get("at_quality", [None] * len(qualities))[i]
                   for r in reds]
            atc.append(f"{np.mean(got):>9.0f}" if got and all(g is not None for g in got) else f"{'-':>9}")
        lines.append(f"{q:>7}" + "".join(f"{v:>13.0f}" for v in vals) + f"{sum(vals):>9.0f}" + "".join(atc))
    return "\n".join(lines)


def run_benchmark(quick: bool = False, json_path: str | None = None, plot_path: str | None = None,
                  model: str | None = None, progress: bool = True) -> dict:
    from spikesci.sci import QUALITIES, load_model, make_model, register_model

    torch.set_num_threads(min(torch.get_num_threads(), 2))
    sm = load_model(model)
    if not hasattr(sm.codec, "intra"):
        from spikesci.errors import SpikeSciError

        raise SpikeSciError(f"bench codec measures learned codecs; '{sm.name}' is in bench paradigms")
    if model and sm.name != model:
        sm = make_model(sm.codec, sm.perception, name=model, fam=sm.fam)
        register_model(sm)
    items = _sim_items(quick) + (_reds_items(REDS, quick) if REDS.exists() else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in tqdm(items, desc="bench codec", disable=not progress):
            rows.append(run_item(sm, item, Path(tmp), QUALITIES))
    first = items[0]
    flops = flops_per_pixel(sm, first["spikes"], _map_frames(sm.perception, first["spikes"].shape[0], None))
    groups = summarize(rows, QUALITIES)
    enc = float(np.mean([c["encode_s_per_map"] for r in rows for c in r["codec"]]))
    dec = float(np.mean([c["decode_s_per_map"] for r in rows for c in r["codec"]]))
    result = {"model": sm.name, "codec_sha256": sm.checksum, "qualities": QUALITIES, "groups": groups,
              "flops_per_pixel": flops, "encode_s_per_map": enc, "decode_s_per_map": dec,
              "threads": torch.get_num_threads(), "items": rows, "quick": quick}
    print(table(groups, flops))
    print(bits_table(rows, QUALITIES))
    print(f"seconds per feature map: encode {enc:.3f} (FEM + codec), decode {dec:.3f} (codec + FMVR + FAM), "
          f"{torch.get_num_threads()} threads")
    if plot_path:
        plot(groups, plot_path)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    return result
