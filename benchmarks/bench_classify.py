"""Classification under compression (paper Tables VI-VIII) on the S-* test splits.

    .venv/bin/python benchmarks/bench_classify.py [--dataset all] [--json OUT.json] [--limit N] [--no-codec]

Same as `spikesci bench classify`: accuracy of the shipped FEM heads on raw spikes, of the TFP-image baseline,
and after a real encode/decode at every codec quality (bpp from the coded file sizes); per-class report and
confusion-matrix PNGs (in --out-dir, default bench_out/classify).
"""

import sys
from pathlib import Path

from spikesci.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out-dir" not in args:
        out = Path(__file__).resolve().parent.parent / "bench_out" / "classify"
        out.mkdir(parents=True, exist_ok=True)
        args += ["--out-dir", str(out)]
    sys.exit(main(["bench", "classify", *args]))
