"""Training and validation data for reconstruction: simulated scenes, cached, cut into random crops.

Scenes come from `spikesci.simulate.scenes` (never downloaded): a mix of still, slow, medium and fast
motion, moving sprites, an ideal or a noisy camera, and varied luminance ranges. They are generated once
into a cache (`.npz`: spikes bit-packed, ground truth as float16 at every frame) so training spends its time
on the network, not the simulator. Training scenes use `list_images("train")` and seeds from `seed`;
validation scenes use held-out images and seeds offset by 10**6, so the two never overlap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikesci.simulate.camera import NOISY, CameraConfig
from spikesci.simulate.scenes import make_scene, preset

HELDOUT_SEED_OFFSET = 10**6


@dataclass(frozen=True)
class SceneMix:
    """How training scenes are drawn (fractions of scenes per motion preset, etc.)."""

    size: int = 96  # scenes are size x size
    frames: int = 150  # spike frames per scene
    scenes: int = 320
    motions: tuple[tuple[str, float], ...] = (
        ("static", 0.1), ("slow", 0.4), ("medium", 0.15), ("fast", 0.35))
    noisy: float = 0.5  # fraction of scenes with the NOISY camera (the rest ideal)
    dim: float = 0.3  # fraction of scenes with a reduced luminance range
    split: str = "train"
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def scene_config(mix: SceneMix, index: int):
    """The SceneConfig of scene `index` of a mix (deterministic)."""
    rng = np.random.default_rng([mix.seed, index, 7])
    names, weights = zip(*mix.motions)
    motion = names[int(rng.choice(len(names), p=np.asarray(weights) / sum(weights)))]
    extra = {}
    if motion == "medium":
        base = preset("slow")
        extra = dict(speed=(0.3, 0.6), sprite_speed=(0.3, 0.8), rotation=0.1, sprite_spin=0.3)
        cfg = replace(base, **extra)
    else:
        cfg = preset(motion)
    camera = NOISY if rng.random() < mix.noisy else CameraConfig()
    lum = (0.0, 1.0)
    if rng.random() < mix.dim:
        lo = float(rng.uniform(0.0, 0.2))
        lum = (lo, float(rng.uniform(max(lo + 0.3, 0.5), 1.0)))
    sprites = int(rng.integers(0, 4))
    return replace(cfg, height=mix.size, width=mix.size, frames=mix.frames, camera=camera, luminance=lum,
                   sprites=sprites, split=mix.split), motion


def build_cache(mix: SceneMix, folder: str | Path, progress: bool = True) -> Path:
    """Generate the scenes of `mix` into folder/scenes-<key>.npz (reused when it already exists)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scenes-{mix.key()}.npz"
    if path.exists():
        return path
    offset = HELDOUT_SEED_OFFSET if mix.split == "heldout" else 0
    spikes, lum, motions = [], [], []
    for i in tqdm(range(mix.scenes), desc=f"scenes ({mix.split})", disable=not progress):
        cfg, motion = scene_config(mix, i)
        scene = make_scene(cfg, seed=offset + mix.seed * 100_000 + i)
        spikes.append(np.packbits(scene.spikes, axis=-1))
        lum.append(scene.luminance.astype(np.float16))
        motions.append(motion)
    tmp = path.with_suffix(".part.npz")
    np.savez(tmp, spikes=np.stack(spikes), luminance=np.stack(lum), motions=np.array(motions),
             mix=json.dumps(asdict(mix)))
    tmp.rename(path)
    return path


class SceneBank:
    """Cached scenes in memory; draws random (spike windows, ground truth) crops for training."""

    def __init__(self, path: str | Path):
        data = np.load(path)
        self.packed = data["spikes"]  # (S, T, H, W/8) uint8
        self.luminance = data["luminance"]  # (S, T, H, W) float16
        self.motions = data["motions"]
        self.size = self.luminance.shape[-1]
        self.frames = self.luminance.shape[1]

    def __len__(self) -> int:
        return len(self.packed)

    def spikes(self, i: int) -> np.ndarray:
        return np.unpackbits(self.packed[i], axis=-1, count=self.size)

    def sample(self, rng: np.random.Generator, batch: int, crop: int, times: np.ndarray,
               window: int, lookback: int, scenes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`batch` crops: spikes (B, len(times), window, crop, crop) uint8 and truth (B, crop, crop) float32.

        `times` are map times relative to the target (e.g. [-40, -20, 0, 20, 40]); every map's window
        [t - lookback, t - lookback + window) must fit in the scene. Random crop, flips and transposes.
        """
        lo = lookback - int(times.min())
        hi = self.frames - (window - lookback) - int(times.max())
        if hi < lo:
            raise ValueError("scenes are too short for these windows")
        xs, ys = [], []
        for b in range(batch):
            i = int(rng.integers(len(self))) if scenes is None else int(scenes[b % len(scenes)])
            t = int(rng.integers(lo, hi))
            y0, x0 = rng.integers(0, self.size - crop + 1, 2)
            first, last = t + int(times.min()) - lookback, t + int(times.max()) - lookback + window
            block = np.unpackbits(self.packed[i, first:last], axis=-1, count=self.size)[:, y0:y0 + crop,
                                                                                       x0:x0 + crop]
            idx = (times - times.min())[:, None] + np.arange(window)[None]
            x = block[idx]  # (M, window, crop, crop)
            y = self.luminance[i, t, y0:y0 + crop, x0:x0 + crop].astype(np.float32)
            if rng.random() < 0.5:
                x, y = x[..., ::-1], y[..., ::-1]
            if rng.random() < 0.5:
                x, y = x[..., ::-1, :], y[::-1]
            if rng.random() < 0.5:
                x, y = np.swapaxes(x, -1, -2), y.T
            xs.append(np.ascontiguousarray(x))
            ys.append(np.ascontiguousarray(y))
        return np.stack(xs), np.stack(ys)
