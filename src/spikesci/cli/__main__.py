"""`python -m spikesci.cli ...` runs the `spikesci` command."""

import sys

from spikesci.cli import main

sys.exit(main())
