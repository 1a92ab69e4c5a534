"""Still photographs that ship inside installed packages (scikit-image, scikit-learn): nothing is downloaded.

They are the backgrounds and sprite textures of simulated scenes. A fixed few are held out: they never
appear in `list_images("train")`, so a model trained on scenes of the training split can be evaluated on
scenes it has never seen (the demo and held-out benchmarks use `list_images("heldout")`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

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
    """True when `name` names a bundled image (so the CLI can tell it from a path)."""
    key = name.split(":", 1)[1] if ":" in name else name
    return key in _sources() and (":" in name and name.split(":", 1)[0] in ("skimage", "sklearn"))
