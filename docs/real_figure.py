"""Make docs/img/real_recording.png: the real UHSR recording (0.03 spikes per pixel per frame) at the old
fixed white rate, with automatic exposure (TFP, net) and decoded from a .sci stream, all through the CLI.
Run from the repository root: python docs/real_figure.py [../shared/data/real/uhsr_ucaltech_4144_helicopter.npz]"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/real/uhsr_ucaltech_4144_helicopter.npz"


def spikesci(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "spikesci.cli", *args, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        fixed = spikesci("reconstruct", str(CLIP), "-o", str(t / "fixed.png"), "--white-rate", "0.6")
        auto = spikesci("reconstruct", str(CLIP), "-o", str(t / "auto.png"))
        net = spikesci("reconstruct", str(CLIP), "-o", str(t / "net.png"), "--method", "net")
        enc = spikesci("encode", str(CLIP), "-o", str(t / "clip.sci"), "--quality", "3")
        dec = spikesci("decode", str(t / "clip.sci"), "-o", str(t / "dec.png"), "--frame", "100")
        encx = spikesci("encode", str(CLIP), "-o", str(t / "clipx.sci"), "--quality", "3", "--codec", "x265")
        spikesci("decode", str(t / "clipx.sci"), "-o", str(t / "decx.png"), "--frame", "100")
        panels = [
            ("TFP, fixed white rate 0.6\n(the old default)", t / "fixed.png"),
            (f"TFP, --white-rate auto\n(measured {auto['white_rate']:.3f})", t / "auto.png"),
            ("net (FEM+FAM), auto\n(uncompressed features)", t / "net.png"),
            (f"decoded .sci (learned), quality 3\n({enc['bpp']:.4f} bpp, {enc['bytes']:,} bytes)",
             t / "dec.png"),
            (f"decoded .sci (--codec x265), quality 3\n({encx['bpp']:.4f} bpp, {encx['bytes']:,} bytes)",
             t / "decx.png"),
        ]
        fig, axes = plt.subplots(1, 5, figsize=(15.5, 3.7))
        for ax, (title, path) in zip(axes, panels):
            ax.imshow(np.asarray(Image.open(path)), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.suptitle(f"Real recording {CLIP.name} (250x250, 0.03 spikes/pixel/frame), frame 100", fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.92))
        fig.savefig(ROOT / "docs/img/real_recording.png", dpi=90)
        print(json.dumps({"fixed": fixed["mean_luminance"], "auto": auto["mean_luminance"],
                          "net": net["mean_luminance"], "white_rate": auto["white_rate"],
                          "sci_bpp": enc["bpp"], "x265_bpp": encx["bpp"], "decoded_frames": dec["frames"]}))


if __name__ == "__main__":
    main()
