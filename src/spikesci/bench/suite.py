"""The clips of the paradigm comparison, and the run that writes DIR/results.json, the RD plot and the table.

Named suites are held-out simulated scenes (images never used in training, fixed seeds, slow and fast
motion) so anyone can rebuild them offline; files given on the command line are added: a `.dat` with a
same-named `.png` beside it (spike-REDS) is scored against that picture at one spike frame, anything else
gets the no-reference view.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from spikesci.bench.paradigms import Clip, ParadigmConfig, run_paradigms
from spikesci.bench.rd import add_bd_tables, bd_rates, bd_text, end_side_table, plot_rd
from spikesci.errors import SpikeSciError
from spikesci.io.spikes import read_spikes
from spikesci.simulate.camera import DEFAULT_WHITE_RATE

SUITE_SEED = 7000  # held-out seeds: training draws its scenes from other seeds
# name -> (height, width, frames, motions, images per motion)
SUITES = {
    "heldout": (250, 400, 96, ("slow", "fast"), None),
    "small": (128, 192, 64, ("slow", "fast"), 1),
    "none": (0, 0, 0, (), 0),
}


def suite_clips(name: str) -> list[Clip]:
    """Clips of a named suite: every held-out image (or the first n) under each motion preset."""
    from spikesci.simulate.images import list_images
    from spikesci.simulate.scenes import make_scene, preset

    if name not in SUITES:
        raise SpikeSciError(f"unknown suite '{name}' (choose from {', '.join(SUITES)})")
    height, width, frames, motions, count = SUITES[name]
    images = list_images("heldout")[:count] if count is not None else list_images("heldout")
    clips = []
    for m, motion in enumerate(motions):
        config = preset(motion, height=height, width=width, frames=frames, split="heldout")
        for i, image in enumerate(images):
            scene = make_scene(config, seed=SUITE_SEED + 100 * m + i, image=image)
            clips.append(Clip(f"{image}-{motion}", np.asarray(scene.spikes, np.uint8), scene.luminance,
                              np.arange(frames), DEFAULT_WHITE_RATE))
    return clips


def file_clip(path: str | Path, height: int, width: int, frame: int | None = None,
              white_rate: float = DEFAULT_WHITE_RATE) -> Clip:
    """A spike file as a clip; a `.png` of the same name beside a `.dat` is its ground truth at `frame`."""
    path = Path(path)
    spikes = np.ascontiguousarray(read_spikes(path, height, width), dtype=np.uint8)
    t = spikes.shape[0]
    gt_path = path.with_suffix(".png")
    if not gt_path.exists():
        return Clip(path.stem, spikes, None, None, white_rate)
    from PIL import Image

    gt = np.asarray(Image.open(gt_path).convert("L"), np.float32) / 255.0
    if gt.shape != spikes.shape[1:]:
        raise SpikeSciError(f"{gt_path}: ground truth is {gt.shape[1]}x{gt.shape[0]}, spikes are "
                            f"{spikes.shape[2]}x{spikes.shape[1]}")
    frame = t // 2 if frame is None else int(frame)
    if not 0 <= frame < t:
        raise SpikeSciError(f"--frame {frame} is outside the clip's {t} spike frames")
    return Clip(path.stem, spikes, gt[None], np.array([frame]), white_rate)


def quick_config(cfg: ParadigmConfig) -> ParadigmConfig:
    """A small run: 4 qualities per codec, 2 evaluation frames."""
    return replace(cfg, points=min(cfg.points, 4), max_eval=min(cfg.max_eval, 2))


def run_bench(clips: list[Clip], cfg: ParadigmConfig, out_dir: str | Path, progress: bool = True,
              log=print, caas=None) -> dict:
    """Run the comparison, write results.json, rd.png and bd_rate.txt into out_dir, return the results."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not clips:
        raise SpikeSciError("no clips to compare (give files or a suite other than 'none')")
    t0 = time.perf_counter()
    results = run_paradigms(clips, cfg, progress=progress, log=log, caas=caas)
    summary, detail = bd_rates(results["points"], method=cfg.bd_method)
    results["bd_method"] = cfg.bd_method
    results["bd_rate"] = summary
    results["bd_rate_detail"] = detail
    add_bd_tables(results)
    results["end_side"] = end_side_table(results["points"])
    results["clips"] = [{"name": c.name, "frames": int(c.spikes.shape[0]), "height": int(c.spikes.shape[1]),
                         "width": int(c.spikes.shape[2]),
                         "reference": "truth" if c.truth is not None else "no-reference"} for c in clips]
    results["config"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}
    results["seconds"] = time.perf_counter() - t0
    results["rate_note"] = ("bpp = 8 * bytes / (H * W * spike frames); conventional codecs: sum of the "
                            "encoder's packet payloads + extradata (elementary stream, no container); "
                            "CAAS: size of the .sci file (container included)")
    (out_dir / "bd_rate.txt").write_text(bd_text(results) + "\n")
    if results["points"]:
        plot_rd(results["points"], out_dir / "rd.png")
    with open(out_dir / "results.json", "w") as f:
        json.dump(jsonable(results), f, indent=1, allow_nan=False)
    return results


def jsonable(obj):
    """Plain JSON: numpy scalars to Python, inf / nan (PSNR of identical images) to null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
