"""Start-up benchmark (issue 16): wall time of `spikesci --help`, argument errors and `info`, and which heavy
modules each one imports. It measures; the guard is tests/test_startup.py, which checks imports only.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--json OUT]

Prints a table and a JSON object: per case the median and best seconds over --runs fresh processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spikesci.io import write_dat

HEAVY = ("torch", "av", "matplotlib", "skimage", "scipy", "numpy")
PROBE = ("import sys\nfrom spikesci.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
         "print('@@' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")


def cases(folder: Path) -> dict[str, list[str]]:
    clip = folder / "clip.dat"
    write_dat(clip, (np.random.default_rng(0).random((301, 250, 400)) < 0.2).astype(np.uint8))
    return {
        "--help": ["--help"],
        "decode --help": ["decode", "--help"],
        "argument error (reconstruct, no -o)": ["reconstruct", str(clip)],
        "bad value (info --white-rate 0)": ["info", str(clip), "--white-rate", "0"],
        "info of a 301-frame 250x400 .dat": ["info", str(clip)],
    }


def run(argv: list[str], runs: int) -> dict:
    times, heavy = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
                              capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        heavy = next((ln[2:] for ln in proc.stderr.splitlines() if ln.startswith("@@")), "?")
    imports = heavy.split(",") if heavy else []
    return {"median_s": statistics.median(times), "best_s": min(times), "imports": imports}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: run(argv, args.runs) for name, argv in cases(Path(tmp)).items()}
    width = max(map(len, results))
    print(f"{'case':<{width}}  median s  best s  heavy modules imported")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['median_s']:8.3f}  {r['best_s']:6.3f}  {', '.join(r['imports']) or '-'}")
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
