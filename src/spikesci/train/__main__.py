"""`python -m spikesci.train ...` (also under `torchrun --nproc_per_node=N -m spikesci.train ...`)."""

import sys

from spikesci.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
