"""`spikesci info` on coded files: a `.spkz` archive (spikes counted) and a `.sci` stream (header facts)."""

import json

import numpy as np

from spikesci.cli import main
from spikesci.io import write_npz


def _clip(frames=60, h=48, w=64, seed=0):
    return (np.random.default_rng(seed).random((frames, h, w)) < 0.2).astype(np.uint8)


def test_info_spkz_counts_the_archived_spikes(tmp_path, capsys):
    spikes = _clip()
    src, arc = tmp_path / "c.npz", tmp_path / "c.spkz"
    write_npz(src, spikes)
    assert main(["pack", str(src), "-o", str(arc)]) == 0
    capsys.readouterr()
    assert main(["info", str(arc), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["frames"], info["height"], info["width"]) == spikes.shape
    assert info["spikes"] == int(spikes.sum())
    assert abs(info["firing_rate"] - spikes.mean()) < 1e-12


def test_info_sci_reads_the_header_and_refuses_truncation(tmp_path, capsys):
    src, sci = tmp_path / "c.npz", tmp_path / "c.sci"
    write_npz(src, _clip(frames=80))
    assert main(["encode", str(src), "-o", str(sci), "--quality", "1"]) == 0
    capsys.readouterr()
    assert main(["info", str(sci), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 80 and info["quality"] == 1 and info["firing_rate"] is None
    assert info["fem"] == "perception-r3.4"  # the learned codec codes release 3.4's maps
    cut = tmp_path / "cut.sci"
    cut.write_bytes(sci.read_bytes()[: sci.stat().st_size // 2])
    assert main(["info", str(cut)]) == 1
    err = capsys.readouterr().err
    assert "truncated" in err and "Traceback" not in err


def test_info_names_the_fem_release_a_stream_decodes_with():
    """A stream names its FEM by checksum; info says which shipped release that is (an x265 stream made
    before CAAS moved on decodes with release 3), or that none is."""
    import hashlib

    from spikesci.cli.info import fem_release
    from spikesci.models.zoo import read_manifest

    entry = read_manifest()["models"]["perception-r3"]
    assert fem_release(entry["sha256"][entry["files"]["fem"]]) == "perception-r3"
    unknown = hashlib.sha256(b"another FEM").hexdigest()
    assert fem_release(unknown) == f"not shipped (sha256 {unknown[:12]}...)"
