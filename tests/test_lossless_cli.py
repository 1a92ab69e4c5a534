import json
import subprocess
import sys
from pathlib import Path

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


_ENTRY = "import sys; from spikesci.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(args, stdin=None, cwd=None):
    """spikesci in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, *args], input=stdin, capture_output=True, cwd=cwd, timeout=300
    )


def test_pipes_in_and_out(tmp_path, dat):
    src, spikes = dat
    arc = tmp_path / "p.spkz"
    r = _run(
        ["pack", "-", "-o", str(arc), "--height", "10", "--width", "15", "--chunk-frames", "5"],
        src.read_bytes(),
    )
    assert r.returncode == 0, r.stderr
    r = _run(["unpack", str(arc), "-o", "-"])
    assert r.returncode == 0 and r.stdout == src.read_bytes(), r.stderr
    r = _run(["unpack", str(arc), "-o", "-", "--frames", "5:10"])
    assert r.stdout == src.read_bytes()[5 * 19 : 10 * 19]
    r = _run(
        ["pack", "-", "-o", str(tmp_path / "q.spkz"), "--height", "10", "--width", "16"], src.read_bytes()
    )
    assert r.returncode == 1 and b"into a frame" in r.stderr and b"Traceback" not in r.stderr
    assert r.stderr.count(b"\n") == 1 and not (tmp_path / "q.spkz").exists()


def test_many_files(tmp_path, dat):
    src, spikes = dat
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.dat", "sub/b.dat", "c.dat"]):
        write_dat(tmp_path / "in" / name, np.roll(spikes, i, axis=0))
    r = _run(["pack", str(tmp_path / "in"), "-o", str(tmp_path / "arc"), "--height", "10", "--width", "15"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "pack total: 3 files" in out and "bpp" in out
    assert sorted(p.name for p in (tmp_path / "arc").rglob("*.spkz")) == ["a.spkz", "b.spkz", "c.spkz"]
    r = _run(["unpack", str(tmp_path / "arc"), "-o", str(tmp_path / "back"), "--jobs", "2", "--json"])
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["files"]) == 3
    for name in ["a.dat", "sub/b.dat", "c.dat"]:
        assert (tmp_path / "back" / name).read_bytes() == (tmp_path / "in" / name).read_bytes()
    # outputs exist: refused before any work, one line; --force redoes them
    r = _run(["unpack", str(tmp_path / "arc"), "-o", str(tmp_path / "back")])
    assert r.returncode == 1 and b"--force" in r.stderr and r.stderr.count(b"\n") == 1
    r = _run(["unpack", str(tmp_path / "arc"), "-o", str(tmp_path / "back"), "--force", "--jobs", "1"])
    assert r.returncode == 0, r.stderr
    # two inputs that would land on one output, and a missing input
    write_dat(tmp_path / "x.dat", spikes)
    r = _run(["pack", str(tmp_path / "x.dat"), str(tmp_path / "x.dat"), "-o", str(tmp_path / "o2")])
    assert r.returncode == 1 and b"both be written" in r.stderr
    r = _run(["unpack", str(tmp_path / "arc"), "-o", str(tmp_path / "one.dat")])
    assert r.returncode == 1 and b"output folder" in r.stderr and not (tmp_path / "one.dat").exists()
    r = _run(["pack", str(tmp_path / "nope.dat"), str(tmp_path / "x.dat"), "-o", str(tmp_path / "o3")])
    assert r.returncode == 1 and b"no such file" in r.stderr and b"Traceback" not in r.stderr


def test_output_is_never_an_input(tmp_path, dat):
    src, _ = dat
    r = _run(["unpack", str(src), "-o", str(src), "--force"])
    assert r.returncode == 1 and b"overwrite the input" in r.stderr and b"Traceback" not in r.stderr


def test_corrupt_archive_one_line(tmp_path, dat):
    src, _ = dat
    arc = tmp_path / "a.spkz"
    assert (
        main(["pack", str(src), "-o", str(arc), "--height", "10", "--width", "15", "--chunk-frames", "4"])
        == 0
    )
    blob = arc.read_bytes()
    (tmp_path / "t.spkz").write_bytes(blob[: len(blob) // 2])
    blob = bytearray(blob)
    blob[len(blob) // 3] ^= 0x40
    (tmp_path / "f.spkz").write_bytes(bytes(blob))
    for bad in ("t.spkz", "f.spkz"):
        r = _run(["unpack", str(tmp_path / bad), "-o", str(tmp_path / "o.dat")])
        assert r.returncode == 1 and r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "o.dat").exists()


def test_fast_start_imports_nothing_heavy(tmp_path, dat):
    """pack and unpack never import torch, av, matplotlib, scikit-image, scipy or the baselines."""
    src, _ = dat
    code = (
        "import sys; from spikesci.cli import main; "
        f"a = main(['pack', r'{src}', '-o', r'{tmp_path / 'a.spkz'}', '--height', '10', '--width', '15']); "
        f"b = main(['unpack', r'{tmp_path / 'a.spkz'}', '-o', r'{tmp_path / 'a.dat'}']); "
        "heavy = ('torch', 'av', 'matplotlib', 'skimage', 'scipy', 'zstandard', 'spikesci.models'); "
        "heavy = [m for m in heavy if m in sys.modules]; print(heavy); "
        "sys.exit(0 if (a, b, heavy) == (0, 0, []) else 3)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_unpack_to_dat_starts_without_numpy(tmp_path, dat):
    """A "mix" archive back to .dat (file or pipe, whole or a range) never imports numpy: Python and
    numpy starting take about as long as `xz -d` takes for a whole clip."""
    from spikesci.lossless.mix import COMPILED

    if not COMPILED:
        pytest.skip("compiled coder not built")
    src, _ = dat
    arc = tmp_path / "a.spkz"
    assert _run(["pack", str(src), "-o", str(arc), "--height", "10", "--width", "15"]).returncode == 0
    code = (
        "import sys; from spikesci.cli import main; "
        f"a = main(['unpack', r'{arc}', '-o', r'{tmp_path / 'a.dat'}']); "
        f"b = main(['unpack', r'{arc}', '-o', r'{tmp_path / 'b.dat'}', '--frames', '2:5']); "
        "sys.exit(0 if (a, b) == (0, 0) and 'numpy' not in sys.modules else 3)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "a.dat").read_bytes() == Path(src).read_bytes()
    fb = (10 * 15 + 7) // 8
    assert (tmp_path / "b.dat").read_bytes() == Path(src).read_bytes()[2 * fb : 5 * fb]
