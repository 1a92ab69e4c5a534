"""Rate-distortion bookkeeping for the paradigm comparison: curves, BD-rate table, RD plot.

BD-rate (spikesci.metrics.bd_rate: PCHIP first by default, the classic cubic fit beside it) is computed per
clip, CAAS against each other curve, and then averaged over clips (the paper's Table IV reports one number per
dataset). A curve is first reduced to its Pareto front (a point that costs more bits than another for lower
PSNR is one no user would pick, and it would make the fit of rate against PSNR non-monotonic); a curve left
with fewer than `min_points` points, or whose PSNR range does not overlap CAAS's, gets no number but a
reason.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from spikesci.metrics import bd_psnr, bd_rate

CAAS_LABEL = "CAAS spikesci"
# PCHIP (piecewise cubic Hermite, the JCT-VC / JVET common-test-condition sheets' method) is the default: it
# passes through every point and never overshoots, where one cubic fit of log-rate against PSNR swings on
# a curve that saturates (measured: +245 % for a CAAS curve above its anchor at every point, docs)
BD_METHODS = ("pchip", "cubic")
BD_TABLE_KEYS = {"cubic": "bd_rate_by_caas", "pchip": "bd_rate_pchip_by_caas"}


def label(point: dict) -> str:
    return f"{point['paradigm']} {point['method']}"


def curves(points: list[dict]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """clip -> label -> (bpp, psnr) sorted by bpp."""
    out: dict = defaultdict(dict)
    grouped: dict = defaultdict(list)
    for p in points:
        grouped[(p["clip"], label(p))].append((p["bpp"], p["psnr"]))
    for (clip, name), pts in grouped.items():
        arr = np.array(sorted(pts), dtype=np.float64)
        out[clip][name] = (arr[:, 0], arr[:, 1])
    return dict(out)


def pareto(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points that no cheaper point beats, with strictly increasing rate and quality."""
    order = np.lexsort((-quality, rate))
    keep, best, last_rate = [], -math.inf, None
    for i in order:
        if quality[i] > best and rate[i] != last_rate and np.isfinite(quality[i]):
            keep.append(i)
            best, last_rate = quality[i], rate[i]
    return rate[keep], quality[keep]


def bd_one(anchor: tuple, test: tuple, min_points: int = 4,
           method: str = "cubic") -> tuple[float | None, float | None, str | None]:
    """(BD-rate %, BD-PSNR dB, reason) of test against anchor; numbers are None with a reason when skipped."""
    ra, qa = pareto(*anchor)
    rt, qt = pareto(*test)
    for name, r in (("anchor", ra), ("CAAS", rt)):
        if r.size < min_points:
            return None, None, f"{name} curve has {r.size} usable points (< {min_points})"
    value = bd_rate(ra, qa, rt, qt, method)
    if not math.isfinite(value):
        return None, None, "PSNR ranges do not overlap"
    gain = bd_psnr(ra, qa, rt, qt, method)
    return value, (gain if math.isfinite(gain) else None), None


def bd_rates(points: list[dict], test: str = CAAS_LABEL, min_points: int = 4,
             method: str = "cubic") -> tuple[dict, dict]:
    """(summary label -> mean BD-rate % or None, detail label -> {clip: {bd_rate, bd_psnr, reason}})."""
    detail: dict = defaultdict(dict)
    for clip, by_label in curves(points).items():
        if test not in by_label:
            continue
        for name, curve in by_label.items():
            if name == test:
                continue
            rate, gain, reason = bd_one(curve, by_label[test], min_points, method)
            detail[name][clip] = {"bd_rate": rate, "bd_psnr": gain, "reason": reason}
    summary = {}
    for name, per_clip in detail.items():
        values = [v["bd_rate"] for v in per_clip.values() if v["bd_rate"] is not None]
        summary[name] = float(np.mean(values)) if values else None
    return summary, dict(detail)


def format_table(summary: dict, detail: dict, test: str = CAAS_LABEL, method: str = "cubic") -> str:
    """Text table like the paper's Table IV: one row per anchor curve, one column per clip, then the mean."""
    if not detail:
        return "BD-rate: no CAAS curve to compare (see 'skipped')"
    clips = sorted({c for per in detail.values() for c in per})
    width = max(len(n) for n in detail) + 2
    head = "anchor (CAAS vs)".ljust(width) + "".join(f"{c[:14]:>16}" for c in clips) + f"{'mean':>10}"
    fit = "cubic fit" if method == "cubic" else "PCHIP interpolation, as the JCT-VC / JVET test sheets"
    lines = [f"BD-rate of {test}, % (negative = it saves bits; {fit})", head, "-" * len(head)]
    for name in sorted(detail, key=lambda n: (n.split()[0], n)):
        cells = []
        for c in clips:
            v = detail[name].get(c, {}).get("bd_rate")
            cells.append(f"{v:>16.1f}" if v is not None else f"{'-':>16}")
        mean = summary.get(name)
        tail = f"{mean:>10.1f}" if mean is not None else f"{'-':>10}"
        lines.append(name.ljust(width) + "".join(cells) + tail)
    reasons = sorted({v["reason"] for per in detail.values() for v in per.values() if v["reason"]})
    lines += [f"  '-': {r}" for r in reasons]
    return "\n".join(lines)


def add_bd_tables(results: dict) -> dict:
    """Every CAAS variant against every other curve, by both BD methods: results["bd_rate_pchip_by_caas"]
    and results["bd_rate_by_caas"] (cubic, VCEG-M33's), each {label: {"mean": ..., "detail": ...}}."""
    caas = sorted({label(p) for p in results["points"] if p["paradigm"] == "CAAS"})
    for method, key in BD_TABLE_KEYS.items():
        results[key] = {}
        for name in caas:
            mean, detail = bd_rates(results["points"], test=name, method=method)
            results[key][name] = {"mean": mean, "detail": detail}
    return results


def bd_text(results: dict) -> str:
    """The BD-rate tables of `add_bd_tables`, the run's method (results["bd_method"], PCHIP by default)
    first, or the plain table when there is no CAAS curve."""
    first = results.get("bd_method", BD_METHODS[0])
    order = [first] + [m for m in BD_METHODS if m != first]
    tables = [format_table(v["mean"], v["detail"], name, method)
              for method in order for name, v in results.get(BD_TABLE_KEYS[method], {}).items()]
    return "\n\n".join(tables or [format_table(results["bd_rate"], results["bd_rate_detail"], method=first)])


def end_side_table(points: list[dict]) -> dict[str, dict[str, float]]:
    """label -> end-side network kFLOPs per pixel per image/map and median seconds per image/map here."""
    out: dict = {}
    grouped: dict = defaultdict(list)
    for p in points:
        grouped[label(p)].append(p)
    for name, pts in sorted(grouped.items()):
        out[name] = {"kflops_per_pixel": float(pts[0].get("end_kflops", 0.0)),
                     "seconds_per_image": float(np.median([p.get("end_seconds", 0.0) for p in pts]))}
    return out


def format_end_side(table: dict) -> str:
    lines = ["End side per image (ATC, CTA) or feature map (CAAS): network kFLOPs/pixel (codec not counted), "
             "seconds here", f"{'method':<28}{'kFLOPs/px':>11}{'s/image':>10}"]
    for name, v in table.items():
        lines.append(f"{name:<28}{v['kflops_per_pixel']:>11.2f}{v['seconds_per_image']:>10.3f}")
    return "\n".join(lines)


def mean_curves(points: list[dict]) -> dict[str, list[tuple[str, float, float, float]]]:
    """label -> [(setting, bpp, PSNR, SSIM)] averaged over clips (settings every clip has), by rate."""
    groups: dict = defaultdict(list)
    clips = {p["clip"] for p in points}
    for p in points:
        groups[(label(p), p["setting"])].append(p)
    out: dict = defaultdict(list)
    for (name, setting), pts in groups.items():
        if len({p["clip"] for p in pts}) != len(clips):
            continue
        out[name].append((setting, float(np.mean([p["bpp"] for p in pts])),
                          float(np.mean([p["psnr"] for p in pts])), float(np.mean([p["ssim"] for p in pts]))))
    return {k: sorted(v, key=lambda r: r[1]) for k, v in sorted(out.items())}


def format_curves(points: list[dict]) -> str:
    """Mean curve per method: the lowest-rate point, the best-PSNR point, and the range of rates."""
    lines = [f"{'curve (mean over clips)':<26}{'points':>7}{'bpp range':>20}{'best PSNR':>11}{'at bpp':>9}"]
    for name, rows in mean_curves(points).items():
        best = max(rows, key=lambda r: r[2])
        lines.append(f"{name[:25]:<26}{len(rows):>7}{rows[0][1]:>10.4f}-{rows[-1][1]:<9.4f}{best[2]:>11.2f}"
                     f"{best[1]:>9.4f}")
    return "\n".join(lines)


def format_points(points: list[dict]) -> str:
    """One line per point, grouped by clip and curve."""
    lines = [f"{'clip':<16}{'curve':<26}{'setting':<20}{'bpp':>9}{'PSNR':>8}{'SSIM':>7}"]
    for p in sorted(points, key=lambda p: (p["clip"], label(p), p["bpp"])):
        lines.append(f"{p['clip'][:15]:<16}{label(p)[:25]:<26}{p['setting'][:19]:<20}{p['bpp']:>9.4f}"
                     f"{p['psnr']:>8.2f}{p['ssim']:>7.3f}")
    return "\n".join(lines)


CAAS_STYLES = {"spikesci": ("red", "*", 2.5), "spikesci-x265": ("purple", "D", 2.5),
               "spikesci-svt-av1": ("black", "P", 2.0)}


def plot_rd(points: list[dict], path: str | Path, title: str = "CTA vs ATC vs CAAS") -> Path:
    """One panel per clip, one curve per method: colour = codec, line = paradigm, marker = reconstruction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_clip = curves(points)
    n = max(len(by_clip), 1)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 4.6 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    codec_colour: dict[str, tuple] = {}
    markers = {"TFP": "o", "TFI": "s", "NET": "^"}
    styles = {"CTA": ":", "ATC": "--", "CAAS": "-"}
    for ax, (clip, by_label) in zip(axes.ravel(), sorted(by_clip.items())):
        for name, (rate, quality) in sorted(by_label.items()):
            paradigm, method = name.split(" ", 1)
            parts = method.split("+")
            codec = parts[0] if paradigm == "CTA" else parts[-1]
            recon = parts[-1] if paradigm == "CTA" else parts[0]
            if paradigm == "CAAS":  # learned codec red stars, via x265 purple diamonds, via SVT-AV1 black
                colour, marker, lw = CAAS_STYLES.get(method, ("purple", "D", 2.5))
            else:
                colour = codec_colour.setdefault(codec, colours(len(codec_colour) % 10))
                marker, lw = markers.get(recon, "x"), 1.2
            ax.plot(rate, quality, linestyle=styles.get(paradigm, "-"), marker=marker, color=colour, lw=lw,
                    ms=4 if paradigm != "CAAS" else 7, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("bits per spike-pixel (real coded bytes)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(clip, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes.ravel()[len(by_clip):]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    ncol = min(6, max(1, len(labels)))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.suptitle(f"{title}  (CTA dotted, ATC dashed, CAAS solid: learned red, x265 purple, SVT-AV1 black)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.04 + 0.012 * math.ceil(len(labels) / 6), 1, 0.97))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
