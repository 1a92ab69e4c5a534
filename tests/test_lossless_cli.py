import json
import subprocess
import sys

import numpy as np
import pytest

from spikesci.cli import main
from spikesci.io import read_dat, write_dat


@pytest.fixture
def dat(tmp_path):
    rng = np.random.default_rng(2)
    spikes = (rng.random((12, 10, 15)) < 0.25).astype(np.uint8)
    path = tmp_path / "in.dat"
    write_dat(path, spikes)
    return path, spikes


def test_pack_unpack_json(tmp_path, dat, capsys):
    src, spikes = dat
    arc, out = tmp_path / "a.spkz", tmp_path / "out.dat"
    assert (
        main(
            [
                "pack",
                str(src),
                "-o",
                str(arc),
                "--height",
                "10",
                "--width",
                "15",
                "--json",
                "--chunk-frames",
                "5",
            ]
        )
        == 0
    )
    stats = json.loads(capsys.readouterr().out)
    assert stats["bytes"] == arc.stat().st_size
    assert stats["bpp"] == stats["bits_per_spike_pixel"] > 0 and stats["mbps"] > 0
    assert main(["unpack", str(arc), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 12
    assert out.read_bytes() == src.read_bytes()
    part = tmp_path / "part.dat"
    assert main(["unpack", str(arc), "-o", str(part), "--frames", "3:8"]) == 0
    assert np.array_equal(read_dat(part, 10, 15), spikes[3:8])
    npz = tmp_path / "out.npz"
    assert main(["unpack", str(arc), "-o", str(npz), "--frames", "4:"]) == 0


def test_refuses_overwrite_and_bad_input(tmp_path, dat, capsys):
    src, _ = dat
    arc = tmp_path / "a.spkz"
    assert main(["pack", str(src), "-o", str(arc), "--height", "10", "--width", "15"]) == 0
    capsys.readouterr()
    assert main(["pack", str(src), "-o", str(arc), "--height", "10", "--width", "15"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["pack", str(src), "-o", str(arc), "--height", "10", "--width", "15", "--force"]) == 0
    assert main(["pack", str(src), "-o", str(tmp_path / "b.spkz")]) == 1  # wrong size for 250x400
    assert "frames" in capsys.readouterr().err
    bad = tmp_path / "bad.spkz"
    blob = bytearray(arc.read_bytes())
    blob[-40] ^= 4  # inside the last chunk
    bad.write_bytes(bytes(blob))
    assert main(["unpack", str(bad), "-o", str(tmp_path / "x.dat")]) == 1
    err = capsys.readouterr().err
    assert "chunk" in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "x.dat").exists()


def test_subprocess_end_to_end(tmp_path, dat):
    """The real entry point in a fresh interpreter: pack, then unpack back to the same bytes."""
    src, _ = dat
    arc, out = tmp_path / "a.spkz", tmp_path / "o.dat"
    code = (
        "import sys; from spikesci.cli import main; "
        f"a = main(['pack', r'{src}', '-o', r'{arc}', '--height', '10', '--width', '15']); "
        f"b = main(['unpack', r'{arc}', '-o', r'{out}']); "
        f"c = main(['unpack', r'{tmp_path / 'nope.spkz'}', '-o', r'{tmp_path / 'p.dat'}']); "
        "sys.exit(0 if (a, b, c) == (0, 0, 1) else 3)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == src.read_bytes()
    assert "Traceback" not in r.stderr and "nope.spkz" in r.stderr


def test_bench_help(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "lossless", "--help"])
    assert "--quick" in capsys.readouterr().out
