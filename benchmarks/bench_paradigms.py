"""CTA vs ATC vs CAAS with real codecs: `python benchmarks/bench_paradigms.py [--quick] [--out DIR]`.

Default (full) run: the held-out simulated suite (3 images x slow/fast, 250x400) plus the spike-REDS clips
(scored against their ground truth at frame 150) and the real UHSR recording (no-reference view) when
/work/shared/data (or $SPIKESCI_DATA) has them. `--quick`: the small simulated suite only, 4 qualities.
Prints JSON (BD-rates, timing, what was skipped), the BD-rate table, and writes results.json, rd.png and
bd_rate.txt into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from spikesci.bench.paradigms import ParadigmConfig
from spikesci.bench.rd import format_curves, format_table
from spikesci.bench.suite import file_clip, jsonable, quick_config, run_bench, suite_clips

DATA = Path(os.environ.get("SPIKESCI_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def data_files() -> list[Path]:
    """Shared clips, if present (never required)."""
    found = sorted((DATA / "spike-reds").glob("*.dat")) + sorted((DATA / "real").glob("*.npz"))
    return [p for p in found if p.is_file()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small suite, 4 qualities, 2 evaluation frames")
    ap.add_argument("--out", default="bench_out/paradigms", help="output folder")
    ap.add_argument("--no-files", action="store_true", help="skip the shared spike-REDS / real clips")
    ap.add_argument("--codecs", default=None, help="comma list of lossy codecs")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = ParadigmConfig()
    if args.codecs:
        from dataclasses import replace

        cfg = replace(cfg, codecs=tuple(c for c in args.codecs.split(",") if c))
    t0 = time.perf_counter()
    if args.quick:
        cfg, clips = quick_config(cfg), suite_clips("small")
    else:
        clips = suite_clips("heldout")
        if not args.no_files:
            clips += [file_clip(p, 250, 400) for p in data_files()]
    results = run_bench(clips, cfg, args.out, log=lambda m: print(m, file=sys.stderr))
    by_paradigm: dict[str, int] = {}
    for p in results["points"]:
        by_paradigm[p["paradigm"]] = by_paradigm.get(p["paradigm"], 0) + 1
    summary = {
        "bench": "paradigms", "quick": args.quick, "clips": [c["name"] for c in results["clips"]],
        "points": by_paradigm, "stride": results["stride"], "gop": results["gop"],
        "bd_rate_caas_vs": results["bd_rate"], "skipped": results["skipped"],
        "codecs": results["codecs"], "seconds": round(time.perf_counter() - t0, 1), "out": str(args.out),
    }
    print(json.dumps(jsonable(summary), indent=1))
    print(format_curves(results["points"]))
    print()
    print(format_table(results["bd_rate"], results["bd_rate_detail"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
