"""Every bad input of issue 16 against every command it applies to: a non-zero exit, one line on stderr that
names the file or option, no traceback, and every file in the folder exactly as it was (no output written,
no input touched). Run in-process through `spikesci.cli.main`, as the `spikesci` script runs it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikesci.cli import main
from spikesci.io import write_dat, write_npz

SMALL = ["--height", "40", "--width", "64"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Good and bad inputs, made once: a small clip (.dat/.npz), a picture, a .sci stream, junk."""
    d = tmp_path_factory.mktemp("bad_inputs")
    rng = np.random.default_rng(0)
    spikes = (rng.random((100, 40, 64)) < 0.3).astype(np.uint8)
    write_dat(d / "small.dat", spikes)
    write_npz(d / "small.npz", spikes)
    Image.fromarray(rng.integers(0, 255, (40, 64), dtype=np.uint8)).save(d / "img.png")
    Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8)).save(d / "other_size.png")
    (d / "rand.npz").write_bytes(rng.bytes(5000))
    np.savez(d / "values.npz", spk=np.full((3, 8, 8), 7, np.int64))
    np.savez(d / "zero.npz", spk=np.zeros((0, 8, 8), np.uint8))
    (d / "empty.dat").write_bytes(b"")
    (d / "s.npz").write_bytes(b"precious")  # an existing file a bad command must not replace
    (d / "frames").mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 64), 60 * i, np.uint8)).save(d / "frames" / f"f{i}.png")
    os.symlink(d / "s.npz", d / "link.npz")
    code = main(["encode", str(d / "small.npz"), "-o", str(d / "good.sci"), "--quality", "1", "--json"])
    assert code == 0
    code = main(["pack", str(d / "small.npz"), "-o", str(d / "good.spkz"), "--json"])
    assert code == 0
    return d


# (argv with {d} for the folder, words the one error line must contain (any of them, case-insensitive))
CASES = [
    # 1. two outputs one file; an output that is an input (also through a link)
    ("simulate {d}/img.png -o {d}/s.npz --gt {d}/s.npz --frames 20 --force", ["s.npz"]),
    ("simulate {d}/img.png -o {d}/link.npz --gt {d}/s.npz --frames 20 --force", ["s.npz", "link.npz"]),
    ("simulate {d}/img.png -o {d}/new.dat --gt {d}/img.png --frames 20 --force", ["img.png"]),
    ("simulate {d}/frames -o {d}/new.dat --gt {d}/frames --force", ["frames"]),
    ("decode {d}/good.sci -o {d}/good.sci --force", ["good.sci"]),
    # 2. / 4. output suffixes a command does not write
    ("reconstruct {d}/small.npz -o {d}/r.txt", ["r.txt", ".png"]),
    ("encode {d}/small.npz -o {d}/e.dat", ["e.dat", ".sci"]),
    ("decode {d}/good.sci -o {d}/d.txt", ["d.txt"]),
    ("simulate {d}/img.png -o {d}/o.txt", ["o.txt"]),
    ("decode {d}/good.sci -o {d}/d.npz --task classify --frame 3", ["--frame"]),
    # 3. frames outside the clip, everywhere, with the valid range
    ("decode {d}/good.sci -o {d}/d.png --frame 99999", ["--frame", "0..99"]),
    ("decode {d}/good.sci -o {d}/d.png --frame -5", ["--frame", "0..99"]),
    ("reconstruct {d}/small.npz -o {d}/r.png --frame 99999", ["--frame", "0..99"]),
    ("reconstruct {d}/small.dat -o {d}/r.png --frame -5 " + " ".join(SMALL), ["--frame", "0..99"]),
    ("reconstruct {d}/small.npz -o {d}/rdir --frame 5", ["--frame"]),
    ("classify {d}/small.npz --frames -5:3", ["-5:3", "55:3", "95:3"]),
    ("classify {d}/small.npz --frames 5:1000", ["5:1000"]),
    ("unpack {d}/good.spkz -o {d}/u.dat --frames -5:3", ["55:3", "-5:3", "frame"]),
    # 5. white rates
    ("info {d}/small.npz --white-rate 0", ["--white-rate"]),
    ("info {d}/small.npz --white-rate -1", ["--white-rate"]),
    ("reconstruct {d}/small.npz -o {d}/r.png --white-rate 0", ["--white-rate"]),
    ("reconstruct {d}/small.npz -o {d}/r.png --white-rate 2", ["--white-rate"]),
    ("decode {d}/good.sci -o {d}/d.png --white-rate 0", ["--white-rate"]),
    ("decode {d}/good.sci -o {d}/d.png --white-rate nan", ["--white-rate"]),
    # 6. unreadable / wrong files: named, with what was found, never a hint to load pickles
    ("info {d}/rand.npz", ["rand.npz"]),
    ("reconstruct {d}/rand.npz -o {d}/r.png", ["rand.npz"]),
    ("encode {d}/rand.npz -o {d}/e.sci", ["rand.npz"]),
    ("classify {d}/rand.npz", ["rand.npz"]),
    ("pack {d}/rand.npz -o {d}/p.spkz", ["rand.npz"]),
    ("info {d}/values.npz", ["values.npz"]),
    ("decode {d}/rand.npz -o {d}/d.png", ["rand.npz"]),
    ("decode {d}/small.npz -o {d}/d.png", ["small.npz"]),
    ("info {d}/missing.dat", ["missing.dat"]),
    ("score {d}/img.png {d}/missing.png", ["missing.png"]),
    ("score {d}/img.png {d}/other_size.png", ["other_size.png"]),
    ("score {d}/img.png {d}/small.npz", ["small.npz"]),
    # 7. meaningless numbers and empty clips
    ("simulate {d}/frames -o {d}/new.dat --repeat 0", ["--repeat"]),
    ("simulate {d}/img.png -o {d}/new.dat --sprites -1", ["--sprites"]),
    ("simulate {d}/img.png -o {d}/new.dat --frames 0", ["--frames"]),
    ("simulate {d}/img.png -o {d}/new.dat --height 0", ["--height"]),
    ("pack {d}/small.npz -o {d}/p.spkz --workers 0", ["workers"]),
    ("pack {d}/small.npz -o {d}/p.spkz --workers -1", ["workers"]),
    ("unpack {d}/good.spkz -o {d}/u.dat --workers 0", ["workers"]),
    ("unpack {d}/good.spkz -o {d}/u.txt", ["u.txt"]),
    ("info {d}/empty.dat", ["empty.dat"]),
    ("info {d}/zero.npz", ["zero.npz"]),
    ("encode {d}/empty.dat -o {d}/e.sci", ["empty.dat"]),
    ("reconstruct {d}/empty.dat -o {d}/r.png", ["empty.dat"]),
    ("classify {d}/empty.dat", ["empty.dat", "frames"]),
    ("encode {d}/small.npz -o {d}/e.sci --gop 0", ["--gop"]),
    ("reconstruct {d}/small.npz -o {d}/r.png --method tfi --window 9", ["--window"]),
    ("decode {d}/good.sci --task segment", ["segment"]),
    ("decode {d}/good.sci --task classify --flows fam", ["--flows"]),
    ("decode {d}/good.sci --task classify --precision float64", ["--precision"]),
    ("decode {d}/good.sci --task classify --white-rate 0.5", ["--white-rate"]),
    ("info {d}/good.sci --white-rate 0.5", ["--white-rate"]),
    ("demo --out {d}/demo_out --frames 0", ["--frames"]),
    # argparse's own errors are one line too
    ("reconstruct {d}/small.npz", ["--output"]),
    ("info {d}/small.npz --json extra", ["extra"]),
    ("nosuchcommand", ["nosuchcommand"]),
    # 7. an empty clip and an output pack does not write
    ("pack {d}/zero.npz -o {d}/p.spkz", ["zero.npz"]),
    ("pack {d}/small.npz -o {d}/p.txt", ["p.txt"]),
]
KNOWN_OPEN: dict[str, list[str]] = {}  # bad inputs still accepted (none now), listed so they show up here


def _snapshot(d: Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link->" + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p)] = "dir"
    return out


def _check(folder: Path, argv: str, words: list[str], capsys) -> None:
    before = _snapshot(folder)
    capsys.readouterr()
    code = main(argv.format(d=folder).split())
    out, err = capsys.readouterr()
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and "error" in line]
    assert code != 0, f"{argv}: exit 0\n{out}{err}"
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("spikesci"), err
    assert any(w.lower() in lines[0].lower() for w in words), f"{lines[0]!r} names none of {words}"
    assert "allow_pickle" not in err
    assert _snapshot(folder) == before, f"{argv}: files changed"


@pytest.mark.parametrize("argv,words", CASES, ids=[c[0].replace("{d}/", "") for c in CASES])
def test_bad_input_is_one_clear_line_and_touches_nothing(folder, argv, words, capsys):
    _check(folder, argv, words, capsys)


@pytest.mark.parametrize("argv", list(KNOWN_OPEN))
def test_known_open_bad_inputs(folder, argv, capsys):
    before = _snapshot(folder)
    code = main(argv.format(d=folder).split())
    capsys.readouterr()
    for p in (*folder.glob("p.spkz"), *folder.glob("p.txt")):
        p.unlink()
    if code == 0:
        pytest.xfail("accepted: owned by the lossless archive (issue 16 item 7)")
    assert _snapshot(folder) == before


def test_negative_frame_ranges_parse(folder, capsys):
    """`--frames -5:` (the form users type) reaches the command instead of failing in argparse."""
    code = main(["unpack", str(folder / "good.spkz"), "-o", str(folder / "last.dat"), "--frames", "-5:",
                 "--json"])
    capsys.readouterr()
    assert code == 0 and (folder / "last.dat").stat().st_size == 5 * 40 * 64 // 8
    (folder / "last.dat").unlink()
