"""Training data v2 for reconstruction: an endless, seeded stream of simulated spike clips with ground truth.

Why: the cached scene bank (`data/recon.py`) holds a few hundred scenes seen hundreds of times, half of them
moving far faster than spike-REDS. Here every sample is new: a background (procedural dead leaves, or a
bundled / extra photograph at a random scale) moves along a smooth sub-pixel path, optional objects move
over it on their own paths, and a camera with a random response turns the luminance into spikes.

- Rendering: each frame samples the source at 2x the output resolution (bilinear, `grid_sample`) and
  averages 2x2 blocks, as a pixel integrates light over its area; the target is the same rendering at the
  centre frame, so motion and target agree exactly.
- Camera response: a pixel fires `white * L + floor` spikes per frame on average, drawn close to the
  response of the public spike-REDS clips: in their flat regions (where motion blur cannot bias the fit) the
  rate is 0.598 L + 0.000 for 41- and 81-frame windows on both shared clips, i.e. white 0.6 and no floor
  (their dark pixels fire 0.01-0.04 because their scenes hold no true black, not because of a sensor
  floor). Threshold mismatch and read noise as a real sensor's.
- Determinism: sample i of a stream depends only on (seed, i); validation streams use held-out images and
  a disjoint seed range, so nothing seen in validation is ever trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.data.leaves import LeavesConfig, dead_leaves
from spikesci.data.videos import folder_files, folder_videos, load_video, video_source
from spikesci.simulate.images import list_images, load_image, read_grey

VALIDATION_SEED_OFFSET = 10**6
SUPERSAMPLE = 2
ATLAS_SIZE = 640  # side of the shared dead-leaves image
ATLAS_REUSE = 16  # consecutive samples cropping the same atlas
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class SynthConfig:
    """How samples are drawn. Speeds are output pixels per spike frame."""

    size: int = 64  # output crop side
    frames: int = 81  # spike frames per sample (the target is at frame frames // 2)
    photo_fraction: float = 0.4  # backgrounds from photographs (rest: dead leaves)
    speeds: tuple[tuple[float, float, float], ...] = (  # (weight, low, high), log-uniform within
        (0.12, 0.0, 0.02), (0.63, 0.02, 0.3), (0.25, 0.3, 1.5))
    objects: float = 0.3  # fraction of samples with 1-2 independently moving objects
    white: tuple[float, float] = (0.58, 0.62)  # spikes per frame at luminance 1
    floor: tuple[float, float] = (0.0, 0.004)  # spikes per frame at luminance 0 (dark current)
    dark: float = 0.2  # fraction of dim scenes (brightest luminance 0.05-0.6)
    mismatch: tuple[float, float] = (0.0, 0.04)  # relative threshold spread
    read_noise: tuple[float, float] = (0.0, 0.03)  # per-frame noise on the potential (x threshold)
    split: str = "train"  # "train" or "validation"
    seed: int = 0
    extra_photos: str | None = None  # folder of extra training photographs (`make training-data`)
    extra_videos: str | None = None  # folder of real training videos (`make training-data`), train split only
    video_fraction: float = 0.15  # backgrounds from those videos, when given (data/videos.py)
    # samples from an ideal camera (white 0.6, no dark current, mismatch or read noise), as spike-REDS's
    # simulator: a network trained only on noisy sensors discounts their dark current and reads such clips
    # about 1.2 % dark (docs/perception.md, releases 3.8-3.9)
    ideal: float = 0.0
    leaves: LeavesConfig = field(default_factory=LeavesConfig)

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        """Inverse of dataclasses.asdict (a run's config.json): lists back to tuples."""
        d = dict(d)
        leaves = d.get("leaves")
        if leaves is not None:
            d["leaves"] = LeavesConfig(**{**leaves, "fills": tuple(tuple(f) for f in leaves["fills"])})
        if "speeds" in d:
            d["speeds"] = tuple(tuple(s) for s in d["speeds"])
        for k in ("white", "floor", "mismatch", "read_noise"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class Sample:
    spikes: np.ndarray  # (frames, size, size) uint8
    target: np.ndarray  # (size, size) float32, luminance at frames // 2
    meta: dict


# Named mixes for `spikesci train --data-mix NAME` (changing a run's mix, e.g. on resume). "spike-reds" puts
# 80 % of samples in spike-REDS's motion range (0.02-0.3 px per spike frame; its clips move about 0.1-0.15)
# and draws more real photos and videos: the mix of release 3.8's last 8,000 steps (docs/perception.md).
DATA_MIXES: dict[str, dict] = {
    "default": {"speeds": SynthConfig.speeds, "photo_fraction": 0.4, "video_fraction": 0.15, "ideal": 0.0},
    "spike-reds": {"speeds": ((0.1, 0.0, 0.02), (0.8, 0.02, 0.3), (0.1, 0.3, 1.5)),
                   "photo_fraction": 0.5, "video_fraction": 0.2, "ideal": 0.0},
}
DATA_MIXES["spike-reds-ideal"] = {**DATA_MIXES["spike-reds"], "ideal": 0.5}  # release 3.9's last steps


def with_mix(cfg: SynthConfig, name: str) -> SynthConfig:
    """`cfg` with the motion and background fractions of the named mix (DATA_MIXES); the rest kept."""
    return replace(cfg, **DATA_MIXES[name])


def _photo_names(cfg: SynthConfig) -> list[str]:
    """Bundled training photographs (never the held-out ones) or, for validation, only the held-out ones."""
    if cfg.split == "validation":
        return list_images("heldout")
    names = list_images("train")
    if cfg.extra_photos and cfg.split == "train":
        names += _folder_photos(cfg.extra_photos)
    return names


def _folder_photos(folder: str) -> list[str]:
    return folder_files(folder, PHOTO_SUFFIXES)


_PHOTO_CACHE: dict[str, np.ndarray] = {}


def _photo(name: str) -> np.ndarray:
    if name not in _PHOTO_CACHE:
        img = read_grey(name) if ("/" in name or "\\" in name) else load_image(name)
        _PHOTO_CACHE[name] = np.ascontiguousarray(img, dtype=np.float32)
    return _PHOTO_CACHE[name]


def _speed(rng: np.random.Generator, table) -> float:
    w = np.array([row[0] for row in table])
    lo, hi = table[int(rng.choice(len(table), p=w / w.sum()))][1:]
    if lo <= 0:
        return float(rng.uniform(0, hi))
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _affine_grid(theta: np.ndarray, m: int) -> torch.Tensor:
    """`F.affine_grid` for (T, 2, 3) matrices and an m x m output (align_corners=False), by broadcasting
    (several times faster than the batched matrix product on one core)."""
    r = (2 * torch.arange(m, dtype=torch.float32) + 1) / m - 1
    th = torch.from_numpy(theta).float()[:, :, :, None, None]  # (T, 2, 3, 1, 1)
    xo, yo = r[None, :], r[:, None]
    return (th[:, :, 0] * xo + th[:, :, 1] * yo + th[:, :, 2]).permute(0, 2, 3, 1).contiguous()


def _render_background(rng: np.random.Generator, source: np.ndarray, cfg: SynthConfig, scale: float,
                       speed: float) -> torch.Tensor:
    """(frames, m, m) luminance at 2x resolution: the source seen through a window moving smoothly."""
    t_len, m = cfg.frames, cfg.size * SUPERSAMPLE
    h, w = source.shape[-2:]
    t = np.arange(t_len, dtype=np.float64) - t_len // 2
    d = rng.uniform(0, 2 * np.pi)
    v = speed * SUPERSAMPLE * scale  # source pixels per frame
    acc = rng.normal(0, 0.15 * v / max(t_len, 1), size=2)  # gentle curvature of the path
    omega = np.deg2rad(rng.normal(0, 0.02)) if rng.random() < 0.3 else 0.0
    zeta = rng.normal(0, 2e-4) if rng.random() < 0.3 else 0.0
    cx = w / 2 + v * np.cos(d) * t + 0.5 * acc[0] * t**2
    cy = h / 2 + v * np.sin(d) * t + 0.5 * acc[1] * t**2
    c, s = np.cos(omega * t), np.sin(omega * t)
    z = scale * np.exp(zeta * t) * m
    # output pixel (px, py) about the window centre -> source pixel c + z R (px, py), in normalised units
    theta = np.stack([np.stack([z * c / w, -z * s / w, (2 * cx + 1) / w - 1], -1),
                      np.stack([z * s / h, z * c / h, (2 * cy + 1) / h - 1], -1)], 1)
    grid = _affine_grid(theta, m)
    if source.ndim == 3:  # a video: its own frame at every spike frame
        src = torch.from_numpy(source)[:, None]
    else:
        src = torch.from_numpy(source)[None, None].expand(t_len, 1, h, w)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)[:, 0]


def _add_object(rng: np.random.Generator, lum: torch.Tensor, texture: np.ndarray, cfg: SynthConfig) -> None:
    """Composite one textured shape moving on its own straight path over `lum` (frames, m, m), in place."""
    t_len, m = lum.shape[0], lum.shape[-1]
    side = int(rng.integers(m // 5, m // 2 + 1))
    tex = texture[:side, :side]
    if tex.shape != (side, side):
        return
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) - (side - 1) / 2
    a, b = side / 2 * rng.uniform(0.6, 1.0), side / 2 * rng.uniform(0.35, 1.0)
    alpha = ((xx / a) ** 2 + (yy / b) ** 2 <= 1.0) if rng.random() < 0.6 else (
        (np.abs(xx) <= a) & (np.abs(yy) <= b))
    src = torch.from_numpy(np.stack([tex, alpha.astype(np.float32)]))[None].expand(t_len, 2, side, side)
    speed = _speed(rng, ((1.0, 0.05, 2.0),)) * SUPERSAMPLE
    d = rng.uniform(0, 2 * np.pi)
    t = np.arange(t_len, dtype=np.float64) - t_len // 2
    off = rng.uniform(-m / 4, m / 4, size=2)
    ox, oy = off[0] + speed * np.cos(d) * t, off[1] + speed * np.sin(d) * t
    one = np.ones(t_len)
    theta = np.stack([np.stack([one * m / side, 0 * one, -2 * ox / side], -1),
                      np.stack([0 * one, one * m / side, -2 * oy / side], -1)], 1)
    grid = _affine_grid(theta, m)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    k = out[:, 1]
    lum.mul_(1 - k).add_(k * out[:, 0])


def simulate_camera(rng: np.random.Generator, lum: np.ndarray, white: float, floor: float,
                    mismatch: float, read_noise: float) -> np.ndarray:
    """Integrate-and-fire over a whole (T, H, W) clip at once (vectorised over time with a cumulative sum).

    Counts N_t = floor((A_0 + sum of inputs) / theta), kept non-decreasing (a pixel cannot un-fire when read
    noise lowers its potential); a spike is a step of N. Same model as `simulate.camera` to within that
    floor-at-zero detail.
    """
    t_len, h, w = lum.shape
    theta = 1.0 + mismatch * rng.standard_normal((h, w))
    gain = white * np.clip(lum, 0, 1).astype(np.float64) + floor
    if read_noise:
        gain = gain + read_noise * rng.standard_normal(gain.shape)
    potential = rng.uniform(0, 1, (h, w)) * theta + np.cumsum(gain, axis=0)
    counts = np.maximum.accumulate(np.floor(potential / theta), axis=0).clip(min=0)
    spikes = np.diff(counts, axis=0, prepend=0.0)
    return np.minimum(spikes, 1).astype(np.uint8)


def make_sample(cfg: SynthConfig, index: int) -> Sample:
    """Sample `index` of the stream `cfg` (deterministic)."""
    seed = cfg.seed + (VALIDATION_SEED_OFFSET if cfg.split == "validation" else 0)
    rng = np.random.default_rng([seed, index, 2])
    names = _photo_names(cfg)
    m = cfg.size * SUPERSAMPLE
    speed = _speed(rng, cfg.speeds)
    travel = speed * cfg.frames * SUPERSAMPLE
    meta: dict = {"speed": speed}
    videos = folder_videos(cfg.extra_videos) if cfg.extra_videos and cfg.split == "train" else []
    if videos and rng.random() < cfg.video_fraction:
        name = videos[int(rng.integers(len(videos)))]
        scale = float(np.exp(rng.uniform(np.log(0.5), np.log(1.5))))
        source = video_source(rng, load_video(name), cfg.frames, int(np.ceil((m * 1.5 + travel) * scale)))
        scale = min(scale, source.shape[-1] / (m * 1.2 + travel))  # a small video: zoom in, keep inside it
        meta["source"] = name
    elif rng.random() < cfg.photo_fraction:
        name = names[int(rng.integers(len(names)))]
        photo = _photo(name)
        scale = float(np.exp(rng.uniform(np.log(0.7), np.log(2.5))))
        need = int(np.ceil((m * 1.5 + travel) * scale))
        y0 = int(rng.integers(max(photo.shape[0] - need, 0) + 1))
        x0 = int(rng.integers(max(photo.shape[1] - need, 0) + 1))
        source = photo[y0:y0 + need, x0:x0 + need]
        meta["source"] = name
        if rng.random() < 0.5:
            source = source[:, ::-1]
        source = np.ascontiguousarray(source)
    else:
        scale = 1.0
        side = int(min(np.ceil(m * 1.5 + travel), 3 * m)) + 8
        source = _crop(rng, _atlas(cfg, index // ATLAS_REUSE), side)
        meta["source"] = "dead-leaves"
    lum = _render_background(rng, source, cfg, scale, speed)
    if rng.random() < cfg.objects:
        for _ in range(int(rng.integers(1, 3))):
            _add_object(rng, lum, _crop(rng, _atlas(cfg, index // ATLAS_REUSE), m), cfg)
    lum = F.avg_pool2d(lum[:, None], SUPERSAMPLE)[:, 0].numpy()
    # brightness: most scenes use most of the range, some are dim (a real recording can fire 0.03 / frame)
    hi = float(rng.uniform(0.05, 0.6)) if rng.random() < cfg.dark else float(rng.uniform(0.7, 1.0))
    lo = float(rng.uniform(0, 0.1)) * hi
    gamma = float(np.exp(rng.normal(0, 0.25)))
    lum = lo + (hi - lo) * np.clip(lum, 0, 1) ** gamma
    white, floor = rng.uniform(*cfg.white), rng.uniform(*cfg.floor)
    mismatch, noise = rng.uniform(*cfg.mismatch), rng.uniform(*cfg.read_noise)
    if cfg.ideal and rng.random() < cfg.ideal:  # drawn only when asked: earlier mixes' streams stay the same
        white, floor, mismatch, noise = 0.6, 0.0, 0.0, 0.0
    spikes = simulate_camera(rng, lum, white, floor, mismatch, noise)
    meta.update(white=white, floor=floor, brightest=hi)
    return Sample(spikes, lum[cfg.frames // 2].astype(np.float32), meta)


@lru_cache(maxsize=2)
def _atlas(cfg: SynthConfig, group: int) -> np.ndarray:
    """A large dead-leaves image shared by ATLAS_REUSE consecutive samples (each takes its own crop): painting
    leaves is most of a sample's cost, and a crop of a fresh atlas is as new as a fresh image."""
    rng = np.random.default_rng([cfg.seed + (VALIDATION_SEED_OFFSET if cfg.split == "validation" else 0),
                                 group, 3])
    names = _photo_names(cfg)
    textures = [_photo(names[int(rng.integers(len(names)))]) for _ in range(2)]
    leaves = replace(cfg.leaves, leaves=int(cfg.leaves.leaves * (ATLAS_SIZE / 256) ** 2))
    return dead_leaves(rng, ATLAS_SIZE, leaves, textures)


def _crop(rng: np.random.Generator, image: np.ndarray, side: int) -> np.ndarray:
    side = min(side, *image.shape)
    y0 = int(rng.integers(image.shape[0] - side + 1))
    x0 = int(rng.integers(image.shape[1] - side + 1))
    out = image[y0:y0 + side, x0:x0 + side]
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)


class SynthStream(torch.utils.data.IterableDataset):
    """Samples start, start + 1, ... of a stream, split across DataLoader workers (worker k takes every
    k-th), as (spikes uint8 (frames, n, n), target float32 (1, n, n)). `start` lets a run resume exactly."""

    def __init__(self, cfg: SynthConfig, start: int = 0, stop: int | None = None):
        self.cfg, self.start, self.stop = cfg, start, stop

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        k, n = (info.id, info.num_workers) if info else (0, 1)
        torch.set_num_threads(1)
        i = self.start + k
        while self.stop is None or i < self.stop:
            s = make_sample(self.cfg, i)
            yield torch.from_numpy(s.spikes), torch.from_numpy(s.target)[None]
            i += n
