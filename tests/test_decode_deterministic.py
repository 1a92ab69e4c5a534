"""Decoded pictures are identical whatever the thread count (issue 16, item 11): the features are exact and
the FAM after them runs pinned to one thread (or in float64). Checked in fresh processes with
OMP_NUM_THREADS=1 and 2, on the PNG pixels, as a user comparing results across machines would."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from spikesci.cli import main
from spikesci.io import write_npz
from spikesci.simulate.scenes import make_scene, preset

CLI = "import sys; from spikesci.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    d = tmp_path_factory.mktemp("determinism")
    scene = make_scene(preset("slow", height=96, width=128, frames=120, sprites=1), seed=3)
    write_npz(d / "clip.npz", scene.spikes)
    assert main(["encode", str(d / "clip.npz"), "-o", str(d / "clip.sci"), "--quality", "2", "--json"]) == 0
    return d


def _decode(d, threads: int, *extra: str):
    out = d / f"t{threads}{''.join(extra).replace('-', '')}"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-c", CLI, "decode", str(d / "clip.sci"), "-o", str(out), "--json",
                           *extra], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return {p.name: np.asarray(Image.open(p)) for p in sorted(out.glob("frame_*.png"))}


@pytest.mark.parametrize("extra", [(), ("--precision", "float64")], ids=["float32", "float64"])
def test_pictures_identical_with_one_and_two_threads(stream, extra):
    one, two = _decode(stream, 1, *extra), _decode(stream, 2, *extra)
    assert one and one.keys() == two.keys()
    for name in one:
        assert np.array_equal(one[name], two[name]), f"{name} differs between 1 and 2 threads"
