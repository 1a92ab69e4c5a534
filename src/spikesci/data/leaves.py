"""Procedural "dead leaves" images: occluding shapes whose sizes follow a scale-invariant law.

Why: natural images are, to a first approximation, random occlusions of objects of every size (the dead
leaves model); restoration networks trained on such images generalise to photographs nearly as well as
networks trained on photographs, and the generator is endless, so a long run never sees the same picture
twice. Each leaf is painted only inside its bounding box (vectorised numpy per leaf; most leaves are small).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class LeavesConfig:
    """Size law and looks of the leaves. Radii are in pixels of the painted image."""

    leaves: int = 400  # leaves painted back to front (the first one fills the background)
    r_min: float = 2.0
    r_max_fraction: float = 0.35  # largest radius as a fraction of the image side
    alpha: float = 3.0  # size density ~ r^-alpha (3: scale invariant in 2-D)
    fills: tuple[tuple[str, float], ...] = (
        ("flat", 0.3), ("gradient", 0.2), ("stripes", 0.15), ("noise", 0.15), ("photo", 0.2))
    blur: float = 0.25  # fraction of images blurred slightly afterwards


def _radii(rng: np.random.Generator, n: int, r_min: float, r_max: float, alpha: float) -> np.ndarray:
    """Inverse-CDF draw from p(r) ~ r^-alpha on [r_min, r_max]."""
    a = 1.0 - alpha
    u = rng.random(n)
    return (r_min**a + u * (r_max**a - r_min**a)) ** (1.0 / a)


def _fill(rng: np.random.Generator, kind: str, xx: np.ndarray, yy: np.ndarray, r: float,
          textures: list[np.ndarray]) -> np.ndarray:
    """Grey values of one leaf over its box (local coordinates xx, yy centred on the leaf)."""
    base = rng.random()
    if kind == "gradient":
        d = rng.uniform(0, 2 * np.pi)
        slope = rng.uniform(-0.6, 0.6) / max(r, 1.0)
        return base + slope * (np.cos(d) * xx + np.sin(d) * yy)
    if kind == "stripes":
        d = rng.uniform(0, 2 * np.pi)
        period = rng.uniform(2.5, max(3.0, r))
        other = rng.random()
        phase = rng.uniform(0, 6.3)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(d) * xx + np.sin(d) * yy) / period + phase)
        return base + (other - base) * wave
    if kind == "noise":
        sigma = rng.uniform(0.5, 3.0)
        noise = gaussian_filter(rng.standard_normal(xx.shape), sigma)
        noise /= noise.std() + 1e-6
        return base + rng.uniform(0.05, 0.3) * noise
    if kind == "photo" and textures:
        tex = textures[int(rng.integers(len(textures)))]
        h, w = xx.shape
        if tex.shape[0] >= h and tex.shape[1] >= w:
            y0 = int(rng.integers(tex.shape[0] - h + 1))
            x0 = int(rng.integers(tex.shape[1] - w + 1))
            patch = tex[y0:y0 + h, x0:x0 + w]
            return base + rng.uniform(0.5, 1.2) * (patch - patch.mean())
    return np.full(xx.shape, base)


def dead_leaves(rng: np.random.Generator, size: int, config: LeavesConfig = LeavesConfig(),
                textures: list[np.ndarray] | None = None) -> np.ndarray:
    """A (size, size) float32 image in [0, 1] of occluding disks, ellipses and rectangles."""
    cfg = config
    textures = textures or []
    img = np.full((size, size), rng.random(), dtype=np.float32)
    radii = np.sort(_radii(rng, cfg.leaves, cfg.r_min, cfg.r_max_fraction * size, cfg.alpha))[::-1]
    names, weights = zip(*cfg.fills)
    p = np.asarray(weights) / sum(weights)
    kinds = rng.choice(len(names), size=cfg.leaves, p=p)
    centres = rng.uniform(-0.1 * size, 1.1 * size, size=(cfg.leaves, 2))
    for r, k, (cy, cx) in zip(radii, kinds, centres):  # one vectorised paint per leaf (not per pixel)
        shape = rng.integers(3)
        aspect = rng.uniform(0.4, 1.0) if shape else 1.0
        ext = int(np.ceil(r)) + 1
        y0, y1 = max(int(cy) - ext, 0), min(int(cy) + ext + 1, size)
        x0, x1 = max(int(cx) - ext, 0), min(int(cx) + ext + 1, size)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
        th = rng.uniform(0, np.pi)
        u = np.cos(th) * xx + np.sin(th) * yy
        v = -np.sin(th) * xx + np.cos(th) * yy
        if shape == 2:  # rectangle
            mask = (np.abs(u) <= r) & (np.abs(v) <= r * aspect)
        else:  # disk (shape 0) or ellipse (shape 1)
            mask = (u / r) ** 2 + (v / (r * aspect)) ** 2 <= 1.0
        if mask.any():
            values = _fill(rng, names[k], *np.broadcast_arrays(xx, yy), r, textures)
            img[y0:y1, x0:x1][mask] = values[mask]
    if rng.random() < cfg.blur:
        img = gaussian_filter(img, rng.uniform(0.3, 1.2))
    return np.clip(img, 0.0, 1.0).astype(np.float32)
