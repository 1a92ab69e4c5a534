"""Moving scenes with ground truth: the training and test data of spikesci.

A scene is a bundled still photograph seen through a camera that moves along a smooth random trajectory
(translation, rotation, zoom), with a few foreground sprites (textured shapes cut from other photographs)
moving over it on their own paths. Every spike frame has its own ground-truth luminance, so motion within
a reconstruction window is real, as it is for a 20-40 kHz camera watching something fast.

Speeds are in output pixels per spike frame. SLOW scenes move 0.05-0.3 px a frame (a 41-frame TFP window
blurs by at most ~12 px), FAST scenes 0.5-3 px (the high-speed case the paper's dual pathway targets).
The camera defaults to NOISY (threshold mismatch, dark current, read noise) so that training data looks
like a real sensor; pass `camera=CameraConfig()` for an ideal one.
Reproducible: the same (config, seed) gives the same luminance and spikes, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import affine_transform, map_coordinates

from spikesci.errors import SpikeSciError
from spikesci.simulate.camera import NOISY, CameraConfig, simulate_spikes
from spikesci.simulate.images import list_images, load_image

SHAPES = ("ellipse", "rectangle", "star")


@dataclass(frozen=True)
class SceneConfig:
    """How to draw a scene. Ranges are (low, high), sampled uniformly per scene (or per sprite)."""

    height: int = 250
    width: int = 400
    frames: int = 64
    speed: tuple[float, float] = (0.05, 0.3)  # background translation, output px per spike frame
    rotation: float = 0.02  # max |background rotation|, degrees per spike frame
    zoom: float = 0.0005  # max |relative scale change| per spike frame
    turn: float = 0.5  # how far the direction of travel wanders over the clip (radians)
    scale: tuple[float, float] = (0.6, 1.3)  # source pixels per output pixel (shrunk to fit the motion)
    sprites: int = 2  # foreground objects per scene
    sprite_size: tuple[float, float] = (0.15, 0.4)  # sprite diameter as a fraction of min(height, width)
    sprite_speed: tuple[float, float] = (0.05, 0.3)  # px per spike frame
    sprite_spin: float = 0.1  # max |sprite rotation|, degrees per spike frame
    luminance: tuple[float, float] = (0.0, 1.0)  # image grey levels 0..1 map linearly to this range
    camera: CameraConfig = field(default=NOISY)
    split: str = "train"  # which bundled images to draw from (see images.list_images)

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1 or self.frames < 1:
            raise SpikeSciError("scene height, width and frames must be positive")
        lo, hi = self.luminance
        if not 0.0 <= lo <= hi <= 1.0:
            raise SpikeSciError(f"luminance range must lie in [0, 1], got {self.luminance}")
        for name in ("speed", "sprite_speed", "scale", "sprite_size"):
            a, b = getattr(self, name)
            if not 0 <= a <= b:
                raise SpikeSciError(f"{name} must be a range (low <= high, non-negative), got {(a, b)}")


STATIC = SceneConfig(speed=(0.0, 0.0), rotation=0.0, zoom=0.0, sprites=0, turn=0.0)
SLOW = SceneConfig()
FAST = SceneConfig(
    speed=(0.5, 3.0), rotation=0.3, zoom=0.003, turn=1.0, sprite_speed=(0.5, 3.0), sprite_spin=1.0
)
PRESETS = {"none": STATIC, "static": STATIC, "slow": SLOW, "fast": FAST}


@dataclass
class Scene:
    """Ground-truth luminance (T, H, W) float32 in [0, 1], spikes (T, H, W) uint8 0/1, how it was made."""

    luminance: np.ndarray
    spikes: np.ndarray
    meta: dict

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.spikes.shape)


def _path(rng: np.random.Generator, frames: int, speed: float, turn: float) -> np.ndarray:
    """A smooth path (T, 2) in (y, x) output pixels, centred on 0, moving exactly `speed` px per frame."""
    t = np.arange(frames, dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi, 2)
    wander = turn * (0.6 * np.sin(np.pi * t / max(frames, 1) + phase[0]) + 0.4 * np.sin(
        2.3 * np.pi * t / max(frames, 1) + phase[1]))
    heading = rng.uniform(0, 2 * np.pi) + wander
    steps = speed * np.stack([np.sin(heading), np.cos(heading)], axis=1)
    pos = np.concatenate([np.zeros((1, 2)), np.cumsum(steps[:-1], axis=0)])
    return pos - 0.5 * (pos.max(axis=0) + pos.min(axis=0))


def _rotate(angle: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rotate (y, x) vectors q (T, ..., 2) by angle (T,) radians (per frame)."""
    c = np.cos(angle).reshape((-1,) + (1,) * (q.ndim - 2))
    s = np.sin(angle).reshape((-1,) + (1,) * (q.ndim - 2))
    y, x = q[..., 0], q[..., 1]
    return np.stack([c * y + s * x, -s * y + c * x], axis=-1)


def _plan_background(shape: tuple[int, int], cfg: SceneConfig, rng: np.random.Generator) -> dict:
    """Draw the window's motion over the photograph: speed, per-frame shift, angle and zoom, scale, centre."""
    T, H, W = cfg.frames, cfg.height, cfg.width
    speed = float(rng.uniform(*cfg.speed))
    shift = _path(rng, T, speed, cfg.turn)
    t = np.arange(T) - (T - 1) / 2
    angle = np.deg2rad(rng.uniform(-cfg.rotation, cfg.rotation)) * t
    zoom = np.exp(rng.uniform(-cfg.zoom, cfg.zoom) * t)  # >1 = content grows
    reach = np.abs(shift).max(axis=0) if T > 1 else np.zeros(2)
    ih, iw = shape
    fit = min(ih / (H + 2 * reach[0] + 2), iw / (W + 2 * reach[1] + 2)) * zoom.min()
    s0 = min(float(rng.uniform(*cfg.scale)), fit)
    half = np.array([(H / 2 + reach[0]) * s0 / zoom.min(), (W / 2 + reach[1]) * s0 / zoom.min()])
    lo, hi = half, np.array([ih, iw]) - 1 - half
    drawn = rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi))
    centre = np.where(lo < hi, drawn, np.array([ih, iw]) / 2 - 0.5)
    return {"speed": speed, "shift": shift, "angle_deg": np.rad2deg(angle), "zoom": zoom, "scale": s0,
            "centre": centre}


def _render_background(image: np.ndarray, plan: dict, size: tuple[int, int], t0: int, t1: int) -> np.ndarray:
    """Frames [t0, t1) of the photograph seen through the planned moving window: (t1-t0, H, W) float32.

    Each frame is one affine resampling (scipy does the per-pixel work in C): output pixel o, centred
    at c_out, shows source point centre + k * R(-angle) (o - c_out - shift), k = scale / zoom.
    """
    height, width = size
    c_out = np.array([(height - 1) / 2, (width - 1) / 2])
    out = np.empty((t1 - t0, height, width), dtype=np.float32)
    for i, t in enumerate(range(t0, t1)):
        a = -np.deg2rad(plan["angle_deg"][t])
        k = plan["scale"] / plan["zoom"][t]
        matrix = k * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        offset = plan["centre"] - matrix @ (c_out + plan["shift"][t])
        affine_transform(image, matrix, offset, output_shape=(height, width), output=out[i], order=1,
                         mode="mirror", prefilter=False)
    return out


def _mask(shape: str, u: np.ndarray, v: np.ndarray, radius: float, star_arms: int) -> np.ndarray:
    """Soft (anti-aliased) 0..1 mask of a unit shape at normalized coords u, v; `radius` in pixels."""
    if shape == "ellipse":
        d = np.sqrt(u * u + v * v)
    elif shape == "rectangle":
        d = np.maximum(np.abs(u), np.abs(v))
    else:
        rho, theta = np.sqrt(u * u + v * v), np.arctan2(v, u)
        d = rho / (0.7 + 0.3 * np.cos(star_arms * theta))
    return np.clip((1.0 - d) * radius + 0.5, 0.0, 1.0).astype(np.float32)


def _plan_sprite(texture_shape: tuple[int, int], cfg: SceneConfig, rng: np.random.Generator) -> dict:
    """Draw one textured shape's size, outline, path, spin and the patch of texture it shows."""
    T, H, W = cfg.frames, cfg.height, cfg.width
    radius = max(0.5 * float(rng.uniform(*cfg.sprite_size)) * min(H, W), 1.0)
    aspect = float(rng.uniform(0.6, 1.0))
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    arms = int(rng.integers(3, 7))
    speed = float(rng.uniform(*cfg.sprite_speed))
    centres = _path(rng, T, speed, cfg.turn) + rng.uniform([0, 0], [H, W])
    spin = np.deg2rad(rng.uniform(-cfg.sprite_spin, cfg.sprite_spin))
    angle = spin * np.arange(T) + rng.uniform(0, 2 * np.pi)
    tex_scale = float(rng.uniform(0.6, 1.3))
    th, tw = texture_shape
    reach = radius * tex_scale + 1
    tex_centre = rng.uniform([min(reach, th / 2), min(reach, tw / 2)],
                             [max(th - reach, th / 2), max(tw - reach, tw / 2)])
    return {"shape": shape, "radius": radius, "aspect": aspect, "arms": arms, "speed": speed,
            "centres": centres, "angle": angle, "spin_deg": float(np.rad2deg(spin)), "tex_scale": tex_scale,
            "tex_centre": tex_centre}


def _paint_sprite(lum: np.ndarray, texture: np.ndarray, plan: dict, t0: int) -> None:
    """Paint a planned sprite over frames t0.. of `lum` (in place), one small box per frame."""
    T, H, W = lum.shape
    radius, aspect = plan["radius"], plan["aspect"]
    centres, angle = plan["centres"][t0 : t0 + T], plan["angle"][t0 : t0 + T]
    R = int(np.ceil(radius)) + 2
    g = np.arange(-R, R + 1, dtype=np.float32)
    origin = np.floor(centres).astype(np.int64)  # (T, 2)
    # offsets of each box pixel from the sprite's exact centre, per frame: (T, S, S, 2)
    frac = (origin - centres).astype(np.float32)
    q = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1)[None] + frac[:, None, None, :]
    local = _rotate(angle, q)
    mask = _mask(plan["shape"], local[..., 0] / (radius * aspect), local[..., 1] / radius, radius * aspect,
                 plan["arms"])
    src = local * plan["tex_scale"] + plan["tex_centre"]
    tex = map_coordinates(texture, np.moveaxis(src.astype(np.float32), -1, 0), order=1, mode="mirror",
                          prefilter=False)
    for t in range(T):  # paste each frame's box, clipped to the canvas (a loop over frames, not pixels)
        y0, x0 = origin[t] - R
        ys, xs = slice(max(y0, 0), min(y0 + 2 * R + 1, H)), slice(max(x0, 0), min(x0 + 2 * R + 1, W))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        by, bx = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
        m = mask[t, by, bx]
        lum[t, ys, xs] = lum[t, ys, xs] * (1 - m) + tex[t, by, bx] * m


def _as_image(image: str | np.ndarray) -> tuple[np.ndarray, str]:
    if isinstance(image, str):
        return load_image(image), image
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 2:
        raise SpikeSciError(f"a scene image must be grey (H, W), got shape {arr.shape}")
    return np.clip(arr, 0.0, 1.0), "array"


def plan_scene(config: SceneConfig = SLOW, seed: int = 0, image: str | np.ndarray | None = None,
               rng: np.random.Generator | None = None) -> dict:
    """Everything random about a scene, drawn up front (so it renders the same in one go or in chunks)."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    names = list_images(config.split)
    if image is None:
        image = names[int(rng.integers(len(names)))]
    background, name = _as_image(image)
    motion = _plan_background(background.shape, config, rng)
    others = [n for n in names if n != name] or names
    sprites = []
    for _ in range(config.sprites):
        tex_name = others[int(rng.integers(len(others)))]
        sprites.append({"image": tex_name, **_plan_sprite(load_image(tex_name).shape, config, rng)})
    return {"image": name, "background": background, "motion": motion, "sprites": sprites, "config": config}


def iter_luminance(plan: dict, chunk: int = 256) -> Iterator[np.ndarray]:
    """Ground-truth luminance of a planned scene, `chunk` frames at a time (bounded memory for long clips)."""
    cfg: SceneConfig = plan["config"]
    lo, hi = cfg.luminance
    textures = [load_image(s["image"]) for s in plan["sprites"]]
    for t0 in range(0, cfg.frames, chunk):
        t1 = min(t0 + chunk, cfg.frames)
        lum = _render_background(plan["background"], plan["motion"], (cfg.height, cfg.width), t0, t1)
        for sprite, texture in zip(plan["sprites"], textures):
            _paint_sprite(lum, texture, sprite, t0)
        if (lo, hi) != (0.0, 1.0):
            lum = lo + (hi - lo) * lum
        yield np.clip(lum, 0.0, 1.0, out=lum)


def render_luminance(config: SceneConfig = SLOW, seed: int = 0, image: str | np.ndarray | None = None,
                     rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """Ground-truth luminance (T, H, W) float32 of a scene, and its metadata (no spikes yet)."""
    plan = plan_scene(config, seed, image, rng)
    lum = np.concatenate(list(iter_luminance(plan, chunk=max(config.frames, 1))))
    meta = {k: v for k, v in plan.items() if k not in ("background", "config")}
    return lum, meta


def make_scene(config: SceneConfig = SLOW, seed: int = 0, image: str | np.ndarray | None = None) -> Scene:
    """A reproducible scene: ground-truth luminance and the spikes a camera (config.camera) fires watching it.

    `image` forces the background (a bundled name or a grey array); by default one is drawn from
    `config.split`, so training scenes never show held-out images.
    """
    rng = np.random.default_rng(seed)
    lum, meta = render_luminance(config, seed, image, rng=rng)
    camera_seed = int(rng.integers(2**31))
    spikes = simulate_spikes(lum, config.camera, seed=camera_seed)
    meta.update(seed=seed, config=config, camera_seed=camera_seed)
    return Scene(luminance=lum, spikes=spikes, meta=meta)


def preset(name: str, **overrides) -> SceneConfig:
    """A named preset ("none"/"static", "slow", "fast") with fields replaced: preset("fast", frames=32)."""
    if name not in PRESETS:
        raise SpikeSciError(f"unknown motion '{name}' (expected {', '.join(PRESETS)})")
    return replace(PRESETS[name], **overrides)
