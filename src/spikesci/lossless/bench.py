"""Lossless benchmark, whole process: `spikesci pack/unpack` beside `xz -9e`, `zstd -19` and `gzip -9`.

Every number is the wall time of a separate process started from the shell (start-up included, as a
user sees it), the median of `--runs` rounds; in each round every command runs once, in the same
order, so a machine that slows down slows all of them. Clips: the spike-REDS `.dat` files and the real
UHSR `.npz` recording (written out as `.dat`) under $SPIKESCI_DATA (default /work/shared/data).
Every archive is unpacked and compared byte for byte. Prints a table, then the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RANGES = ((100, 110), (150, 160))  # one range starting on a chunk border (100 frames), one inside a chunk
GENERAL = {  # name -> (compress argv, decompress argv); each reads IN and writes to stdout
    "xz -9e": (["xz", "-9e", "-c"], ["xz", "-d", "-c"]),
    "zstd -19": (["zstd", "-19", "-q", "-c"], ["zstd", "-d", "-q", "-c"]),
    "gzip -9": (["gzip", "-9", "-n", "-c"], ["gzip", "-d", "-c"]),
}


def data_root() -> Path:
    return Path(os.environ.get("SPIKESCI_DATA", "/work/shared/data"))


def load_clips(tmp: Path, frames: int = 0, quick: bool = False) -> list[dict]:
    """Write every available clip as a `.dat` in `tmp`; name, path, height, width, frames of each."""
    from spikesci.io import read_dat, read_npz, write_dat

    root = data_root()
    sources = [(p, read_dat(p, 250, 400)) for p in sorted((root / "spike-reds").glob("*.dat"))]
    sources += [(p, read_npz(p)) for p in sorted((root / "real").glob("*.npz"))]
    if quick or not sources:
        rng = np.random.default_rng(0)
        acc, clip = rng.random((60, 80)), []
        for _ in range(120):
            acc += 0.15 + 0.3 * rng.random((60, 80)) * 0.1
            clip.append(acc >= 1)
            acc -= clip[-1]
        sources = [(Path("synthetic-60x80.dat"), np.array(clip, np.uint8))]
    clips = []
    for path, spikes in sources:
        spikes = spikes[:frames] if frames > 0 else spikes
        dat = tmp / f"{path.stem}.dat"
        write_dat(dat, spikes)
        t, h, w = spikes.shape
        clips.append({"name": path.stem, "path": dat, "frames": t, "height": h, "width": w})
    return clips


def _timed(argv: list[str], stdin: Path | None = None, stdout: Path | None = None) -> float:
    """Wall seconds of one process; its output goes to `stdout` (a file) or nowhere."""
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    fout = open(stdout, "wb") if stdout else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=fin, stdout=fout, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - t0
    finally:
        for fh in (fin, fout):
            if fh is not subprocess.DEVNULL:
                fh.close()
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.decode(errors='replace').strip()}")
    return seconds


def _spikesci() -> list[str]:
    exe = Path(sys.executable).with_name("spikesci")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from spikesci.cli import main; sys.exit(main(sys.argv[1:]))"]


def bench_clip(clip: dict, tmp: Path, runs: int) -> dict:
    """Median whole-process times and sizes of every method on one clip, round trips checked."""
    sp, src = _spikesci(), clip["path"]
    size = ["--height", str(clip["height"]), "--width", str(clip["width"])]
    arc, back, part = tmp / "c.spkz", tmp / "back.dat", tmp / "part.dat"
    steps = {
        "spikesci pack": lambda: _timed([*sp, "pack", str(src), "-o", str(arc), *size, "--force", "--json"]),
        "spikesci unpack": lambda: _timed([*sp, "unpack", str(arc), "-o", str(back), "--force", "--json"]),
    }
    ranges = [(a, b) for a, b in RANGES if b <= clip["frames"]] or [(0, min(10, clip["frames"]))]
    for a, b in ranges:
        args = [*sp, "unpack", str(arc), "-o", str(part), "--frames", f"{a}:{b}", "--force", "--json"]
        steps[f"spikesci unpack {a}:{b}"] = lambda args=args: _timed(args)
    for name, (comp, decomp) in GENERAL.items():
        packed = tmp / f"c.{name.split()[0]}"
        steps[name] = lambda comp=comp, packed=packed: _timed([*comp, str(src)], stdout=packed)
        steps[f"{name} -d"] = lambda decomp=decomp, packed=packed: _timed([*decomp, str(packed)], stdout=back)
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(runs):
        for name, step in steps.items():
            times[name].append(step())
            if name.endswith(" -d") or name == "spikesci unpack":
                if back.read_bytes() != src.read_bytes():
                    raise RuntimeError(f"{name}: round trip of {clip['name']} is not exact")
    pixels = clip["frames"] * clip["height"] * clip["width"]
    sizes = {"spikesci": arc.stat().st_size}
    sizes.update({name: (tmp / f"c.{name.split()[0]}").stat().st_size for name in GENERAL})
    row = {k: v for k, v in clip.items() if k != "path"}
    row["dat_bytes"] = src.stat().st_size
    row["bytes"] = sizes
    row["bpp"] = {k: 8.0 * v / pixels for k, v in sizes.items()}
    row["seconds"] = {k: statistics.median(v) for k, v in times.items()}
    row["seconds_all"] = times
    s = row["seconds"]
    full = s["spikesci unpack"]
    row["ratios"] = {
        "size_vs_xz": sizes["spikesci"] / sizes["xz -9e"],
        "size_vs_zstd": sizes["spikesci"] / sizes["zstd -19"],
        "pack_vs_xz": s["spikesci pack"] / s["xz -9e"],
        "unpack_vs_xz_d": full / s["xz -9e -d"],
        "pack_vs_zstd": s["spikesci pack"] / s["zstd -19"],
        "unpack_vs_zstd_d": full / s["zstd -19 -d"],
    }
    for a, b in ranges:
        row["ratios"][f"unpack_{a}_{b}_vs_full"] = s[f"spikesci unpack {a}:{b}"] / full
    return row


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"loadavg": load, "cpus": os.cpu_count()}


def table(rows: list[dict]) -> str:
    """bpp and whole-process seconds (median) of each method, then the ratios the issue asks for."""
    lines = [
        f"{'clip':28s} {'method':16s} {'bpp':>7s} {'pack s':>8s} {'unpack s':>9s}",
        "-" * 72,
    ]
    for r in rows:
        s, name = r["seconds"], r["name"][:28]
        lines.append(
            f"{name:28s} {'spikesci':16s} {r['bpp']['spikesci']:7.4f} "
            f"{s['spikesci pack']:8.2f} {s['spikesci unpack']:9.2f}"
        )
        for m in GENERAL:
            lines.append(f"{'':28s} {m:16s} {r['bpp'][m]:7.4f} {s[m]:8.2f} {s[m + ' -d']:9.2f}")
        for k, v in s.items():
            if k.startswith("spikesci unpack "):
                lines.append(f"{'':28s} {'unpack ' + k.split()[-1]:16s} {'':7s} {'':8s} {v:9.2f}")
        q = r["ratios"]
        ra = ", ".join(f"{k[7:-8]} {v:.2f}" for k, v in q.items() if k.startswith("unpack_") and "full" in k)
        lines.append(
            f"{'':28s} ratios: size/xz {q['size_vs_xz']:.3f}, size/zstd {q['size_vs_zstd']:.3f}, "
            f"pack/xz {q['pack_vs_xz']:.2f}, unpack/xz -d {q['unpack_vs_xz_d']:.2f}, "
            f"range/full unpack: {ra}"
        )
    return "\n".join(lines)


def profile(clip: dict, top: int = 14) -> str:
    """cProfile of an in-process pack and unpack of `clip` (one worker): where the time goes."""
    import cProfile
    import io
    import pstats

    from spikesci.lossless.archive import pack, unpack

    out = io.StringIO()
    with tempfile.TemporaryDirectory() as d:
        arc, h, w = Path(d) / "p.spkz", clip["height"], clip["width"]
        for what, call in (
            ("pack", lambda: pack(clip["path"], arc, h, w, workers=1)),
            ("unpack", lambda: unpack(arc, Path(d) / "p.dat", workers=1)),
        ):
            prof = cProfile.Profile()
            prof.runcall(call)
            out.write(f"--- {what} {clip['name']} (one worker) ---\n")
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=0, help="frames per clip (0 = all)")
    ap.add_argument("--runs", type=int, default=3, help="rounds; medians are reported (3)")
    ap.add_argument("--quick", action="store_true", help="one small synthetic clip, one round (seconds)")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of pack and unpack")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    missing = [tool for tool in ("xz", "zstd", "gzip") if shutil.which(tool) is None]
    if missing:
        print(f"bench lossless: needs {', '.join(missing)} on PATH", file=sys.stderr)
        return 1
    runs = 1 if args.quick else args.runs
    # the package's bytecode, as an install writes it: where PYTHONDONTWRITEBYTECODE is set (as here), a
    # source checkout would compile its modules in every measured process (~30 ms each)
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1]), quiet=1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clips = load_clips(tmp, args.frames, args.quick)
        before = machine()
        rows = [bench_clip(c, tmp, runs) for c in clips]
        doc = {
            "benchmark": "lossless, whole process",
            "units": {"bpp": "bits per spike-pixel", "seconds": "wall seconds, median of runs"},
            "runs": runs,
            "results": rows,
            "machine": {"before": before, "after": machine()},
        }
        print(table(rows))
        print(json.dumps(doc, indent=2))
        if args.profile:
            print(profile(clips[0]))
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2))
    return 0
