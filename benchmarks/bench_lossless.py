"""Lossless archive benchmark (logic in spikesci.lossless.bench): `python benchmarks/bench_lossless.py`."""

import sys

from spikesci.lossless.bench import main

if __name__ == "__main__":
    sys.exit(main())
