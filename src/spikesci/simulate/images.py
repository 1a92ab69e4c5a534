"""Still photographs that ship inside installed packages (scikit-image, scikit-learn): nothing is downloaded.

They are the backgrounds and sprite textures of simulated scenes. A fixed few are held out: they never
appear in `list_images("train")`, so a model trained on scenes of the training split can be evaluated on
scenes it has never seen (the demo and held-out benchmarks use `list_images("heldout")`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from spikesci.errors import SpikeSciError

# name -> (package, loader attribute or file). Only files shipped in the wheels (checked offline).
_SKIMAGE = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text",
)
_SKLEARN = ("china", "flower")

HELDOUT: tuple[str, ...] = ("camera", "coins", "china")
"""Never used for training: classic test pictures (a face and tripod, small round objects, a building)."""


def _sources() -> dict[str, tuple[str, str]]:
    out = {name: ("skimage", name) for name in _SKIMAGE}
    out.update({name: ("sklearn", f"{name}.jpg") for name in _SKLEARN})
    return out


def list_images(split: str = "train") -> list[str]:
    """Names of the bundled images in a split: "train", "heldout" or "all" (sorted, stable)."""
    names = sorted(_sources())
    if split == "all":
        return names
    if split == "heldout":
        return sorted(HELDOUT)
    if split == "train":
        return [n for n in names if n not in HELDOUT]
    raise SpikeSciError(f"unknown image split '{split}' (expected train, heldout or all)")


def _loader(package: str, item: str) -> Callable[[], np.ndarray]:
    if package == "skimage":
        import skimage.data

        return getattr(skimage.data, item)
    from sklearn.datasets import load_sample_image

    return lambda: load_sample_image(item)


@lru_cache(maxsize=32)
def _load_cached(name: str) -> np.ndarray:
    package, item = _sources()[name]
    image = np.asarray(_loader(package, item)())
    if image.ndim == 3:
        from skimage.color import rgb2gray

        image = rgb2gray(image[..., :3])
    elif image.dtype == np.uint8:
        image = image / 255.0
    image = np.clip(image.astype(np.float32), 0.0, 1.0)
    image.flags.writeable = False
    return image


def load_image(name: str) -> np.ndarray:
    """A bundled image, grey float32 (H, W) in [0, 1]. Accepts `camera`, `skimage:camera`, `sklearn:china`."""
    key = name.split(":", 1)[1] if name.split(":", 1)[0] in ("skimage", "sklearn") else name
    if key not in _sources():
        raise SpikeSciError(f"unknown bundled image '{name}' (known: {', '.join(list_images('all'))})")
    return _load_cached(key).copy()


def is_bundled(name: str) -> bool:
    """True for `skimage:NAME` / `sklearn:NAME` of a bundled image (how the CLI tells one from a path)."""
    package, _, key = name.partition(":")
    return package in ("skimage", "sklearn") and key in _sources()


# -- the user's own pictures and videos (for `spikesci simulate`) ---------------------------------------
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


def read_grey(path: str | Path) -> np.ndarray:
    """An image file as grey float32 (H, W) in [0, 1] (colour is converted to luminance)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.seek(0)
            grey = np.asarray(im.convert("F" if im.mode in ("I", "I;16", "F") else "L"), dtype=np.float32)
            if im.mode in ("I", "I;16"):
                grey = grey / max(float(grey.max()), 1.0)
            else:
                grey = grey / (1.0 if im.mode == "F" else 255.0)
    except (UnidentifiedImageError, OSError) as exc:
        raise SpikeSciError(f"{path}: not a readable image ({exc})") from None
    return np.clip(grey, 0.0, 1.0)


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a folder of frames, in name order."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise SpikeSciError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def video_frames(path: str | Path) -> tuple[Iterator[np.ndarray], int]:
    """Decode a video with PyAV: (iterator of grey float32 frames in [0, 1], frame count or 0 if unknown)."""
    import av

    try:
        container = av.open(str(path))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise SpikeSciError(f"{path}: not a readable video ({exc})") from None

    def frames() -> Iterator[np.ndarray]:
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="gray").astype(np.float32) / 255.0
        except av.error.FFmpegError as exc:
            raise SpikeSciError(f"{path}: video is damaged ({exc})") from None
        finally:
            container.close()

    return frames(), int(stream.frames or 0)


def fit_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the aspect of (height, width) and resize (anti-aliased): grey float32 in [0, 1]."""
    from skimage.transform import resize

    ih, iw = image.shape
    if ih * width > iw * height:  # too tall: crop rows
        ch = max(1, round(iw * height / width))
        image = image[(ih - ch) // 2 : (ih - ch) // 2 + ch]
    else:
        cw = max(1, round(ih * width / height))
        image = image[:, (iw - cw) // 2 : (iw - cw) // 2 + cw]
    if image.shape != (height, width):
        image = resize(image, (height, width), order=1, anti_aliasing=image.shape[0] > height, mode="reflect")
    return np.clip(image, 0.0, 1.0).astype(np.float32)
