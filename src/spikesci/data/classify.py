"""Labelled spike clips for classification: simulated S-* sets and folders of real SpiReco/UHSR `.npz` files.

The paper's S-MNIST / S-CIFAR / S-CALTECH are real recordings of pictures moving fast in front of a spike
camera; they cannot be downloaded here, so we make equivalents with our camera simulator from labelled
images that ship inside installed packages:

- S-DIGITS: scikit-learn's 1,797 handwritten digits (8x8, 10 classes). The easy set (like S-MNIST).
- S-ANIMALS: `animal-shape-mnist` (10,000 animal silhouettes 28x28, 10 balanced classes), a harder shape set.
- S-NATURAL: crops of 10 bundled photographs (scikit-image, scikit-learn); the class is the photo a crop comes
  from. Train, validation and test crops come from disjoint regions of each photo, so a classifier must learn
  the photo's texture and content statistics (brick, grass, fur, craters...), not remember pixels. Natural
  textures are fine-scale, which fast motion blurs in any rate image: the hardest set (the S-CALTECH role).

Each clip: the object (upscaled to 24-34 px) crosses a dark canvas in a straight line at 0.3-0.7 px per
spike frame (a 41-frame TFP window smears it by 12-29 px), camera noise on (NOISY). Canvas 64x64 and 86
frames instead of the real sets' 250x250: the whole pipeline (generation, FEM features, head training) must
run in minutes on 2 shared CPU cores, 64x64 keeps the object-to-canvas ratio of the real sets (object ~40 %
of the side), and 86 frames give the FEM (46-frame window, stride 20) three feature maps per clip.

Splits are fixed by the spec's seed (images, then clips), generated on demand and cached on disk as packed
bits (one bit per spike, an 86-frame 64x64 clip is 43 KiB) under $SPIKESCI_CACHE or ~/.cache/spikesci.
A folder of `.npz` files (keys `spk` (T, H, W) and `label`), optionally with train/val/test subfolders,
is a data set too (the real S-MNIST / S-CIFAR / S-CALTECH / UHSR for users who have them).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from spikesci.errors import SpikeFileError, SpikeSciError
from spikesci.simulate.camera import NOISY, CameraConfig, simulate_spikes

GENERATOR_VERSION = 1  # bump when the rendering changes, so stale caches are not reused
SPLITS = ("train", "val", "test")
CHUNK = 16  # clips simulated together (part of the definition: camera noise is drawn per chunk)
NATURAL_PHOTOS = (
    "astronaut",
    "brick",
    "cell",
    "chelsea",
    "coffee",
    "grass",
    "gravel",
    "immunohistochemistry",
    "moon",
    "rocket",
)
ANIMAL_NAMES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")


@dataclass(frozen=True)
class ClassifySpec:
    """How a simulated classification set is made. Ranges are (low, high), sampled per clip."""

    name: str
    source: str  # digits | animals | natural
    height: int = 64
    width: int = 64
    frames: int = 86  # 3 FEM feature maps (window 46, stride 20)
    sizes: tuple[int, int, int] = (1257, 180, 360)  # images (or crops) in train / val / test
    train_repeats: int = 1  # clips per training image (each with its own motion and noise)
    object_size: tuple[float, float] = (24.0, 32.0)  # side of the upscaled object, px
    speed: tuple[float, float] = (0.3, 0.7)  # px per spike frame
    background: tuple[float, float] = (0.02, 0.15)  # canvas luminance
    peak: tuple[float, float] = (0.6, 1.0)  # luminance of the object's brightest pixel
    camera: CameraConfig = field(default=NOISY)
    seed: int = 0

    def fingerprint(self) -> str:
        text = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


DATASETS: dict[str, ClassifySpec] = {
    "s-digits": ClassifySpec("s-digits", "digits", sizes=(1257, 180, 360), train_repeats=2),
    "s-animals": ClassifySpec("s-animals", "animals", sizes=(2000, 300, 500)),
    "s-natural": ClassifySpec("s-natural", "natural", sizes=(1500, 300, 500), object_size=(26.0, 34.0)),
}


# ----------------------------------------------------------------------------------------------- sources
@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


class _NumpyOnly(pickle.Unpickler):
    """The animal-shape pickles hold two numpy arrays: refuse any other global (no code from a data file)."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise SpikeSciError(f"animal-shape-mnist data holds an unexpected object {module}.{name}")
        return super().find_class(module, name)


@lru_cache(maxsize=1)
def _animals() -> tuple[np.ndarray, np.ndarray]:
    """Read the package's gzip-pickle files directly (its own loader imports TensorFlow)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("animal_shape_mnist")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise SpikeSciError("S-ANIMALS needs the package animal-shape-mnist (pip install animal-shape-mnist)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "Animal Shape"
    arrays = []
    for fname in ("animal_data_version_3.gz", "animal_label_version_3.gz"):
        with gzip.open(folder / fname, "rb") as f:
            arrays.append(_NumpyOnly(io.BytesIO(f.read())).load())
    images, labels = arrays
    return (np.asarray(images, np.float32) / 255.0), np.asarray(labels, np.int64)


def class_names(spec: ClassifySpec) -> list[str]:
    if spec.source == "digits":
        return [str(i) for i in range(10)]
    if spec.source == "animals":
        return list(ANIMAL_NAMES)
    if spec.source == "natural":
        return list(NATURAL_PHOTOS)
    raise SpikeSciError(f"unknown source '{spec.source}' (digits, animals or natural)")


def _split_indices(n: int, sizes: tuple[int, int, int], seed: int, labels: np.ndarray) -> list[np.ndarray]:
    """Disjoint image indices per split, stratified (each split has every class in proportion)."""
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(n)
    # stratify: interleave classes in the permuted order so every prefix is balanced
    rank = np.empty(n, np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(members.size) * n // max(members.size, 1)
    order = order[np.argsort(rank[order], kind="stable")]
    total = sum(sizes)
    if total > n:
        raise SpikeSciError(f"split sizes {sizes} need {total} images, only {n} available")
    out, start = [], 0
    for split_size in (sizes[2], sizes[1], sizes[0]):  # test first: it never changes when train grows
        out.append(np.sort(order[start : start + split_size]))
        start += split_size
    return [out[2], out[1], out[0]]


def _objects(spec: ClassifySpec, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Object images (float32 [0, 1]) and labels of one split."""
    k = SPLITS.index(split)
    if spec.source in ("digits", "animals"):
        images, labels = _digits() if spec.source == "digits" else _animals()
        idx = _split_indices(len(labels), spec.sizes, spec.seed, labels)[k]
        if split == "train":
            idx = np.tile(idx, spec.train_repeats)
        return [images[i] for i in idx], labels[idx]
    if spec.source == "natural":
        return _natural_crops(spec, split)
    raise SpikeSciError(f"unknown source '{spec.source}' (digits, animals or natural)")


def _natural_crops(spec: ClassifySpec, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Square crops from disjoint photo regions: test = right 30 % of the width, val = bottom 30 % of the
    rest, train = the top-left 70 % x 70 %. Crop sides are 10-16 % of the photo's shorter side, so any crop
    fits any region."""
    from skimage.transform import resize

    from spikesci.simulate.images import load_image

    k = SPLITS.index(split)
    n = spec.sizes[k]
    labels = np.arange(n, dtype=np.int64) % len(NATURAL_PHOTOS)
    rng = np.random.default_rng([spec.seed, 11, k])
    crops = []
    for label in labels:
        photo = load_image(NATURAL_PHOTOS[label])
        h, w = photo.shape
        side = int(rng.uniform(0.10, 0.16) * min(h, w))
        x0, x1, y0, y1 = {
            "train": (0, 0.7 * w, 0, 0.7 * h),
            "val": (0, 0.7 * w, 0.7 * h, h),
            "test": (0.7 * w, w, 0, h),
        }[split]
        top = int(rng.uniform(y0, max(y0, y1 - side)))
        left = int(rng.uniform(x0, max(x0, x1 - side)))
        crop = photo[top : top + side, left : left + side]
        crops.append(resize(crop, (48, 48), anti_aliasing=True).astype(np.float32))
    return crops, labels


# ----------------------------------------------------------------------------------------------- rendering
def _render(spec: ClassifySpec, objects: list[np.ndarray], params: np.ndarray) -> np.ndarray:
    """Luminance (B, T, H, W) of objects crossing the canvas; params rows: size, cx, cy, vx, vy, bg, peak."""
    import torch
    import torch.nn.functional as F

    T, H, W = spec.frames, spec.height, spec.width
    out = np.empty((len(objects), T, H, W), np.float32)
    t = torch.arange(T, dtype=torch.float64) - (T - 1) / 2
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=torch.float64) + 0.5, torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij"
    )
    for b, (obj, p) in enumerate(zip(objects, params)):
        size, cx, cy, vx, vy, bg, peak = (float(v) for v in p)
        ox = cx + vx * t  # (T,) object centre per frame
        oy = cy + vy * t
        gx = (xs[None] - ox[:, None, None]) / (size / 2)  # (T, H, W) in the object's [-1, 1] frame
        gy = (ys[None] - oy[:, None, None]) / (size / 2)
        grid = torch.stack([gx, gy], -1).reshape(1, T * H, W, 2).float()
        img = torch.from_numpy(np.ascontiguousarray(obj, np.float32))[None, None]
        sampled = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[b] = (bg + (peak - bg) * sampled.reshape(T, H, W)).numpy()
    return np.clip(out, 0.0, 1.0)


def _clip_params(spec: ClassifySpec, split: str, n: int) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, 13, SPLITS.index(split)])
    size = rng.uniform(*spec.object_size, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(*spec.speed, n)
    cx = spec.width / 2 + rng.uniform(-0.1, 0.1, n) * spec.width
    cy = spec.height / 2 + rng.uniform(-0.1, 0.1, n) * spec.height
    bg = rng.uniform(*spec.background, n)
    peak = np.maximum(rng.uniform(*spec.peak, n), bg + 0.2)
    return np.stack([size, cx, cy, speed * np.cos(angle), speed * np.sin(angle), bg, peak], 1)


def generate_split(spec: ClassifySpec, split: str, progress: bool = True):
    """Simulate one split: yields (spikes (B, T, H, W) uint8, labels (B,)) chunk by chunk."""
    from tqdm import tqdm

    objects, labels = _objects(spec, split)
    params = _clip_params(spec, split, len(labels))
    bar = tqdm(total=len(labels), desc=f"{spec.name} {split}", unit="clip", disable=not progress, leave=False)
    for c, a in enumerate(range(0, len(labels), CHUNK)):
        b = min(a + CHUNK, len(labels))
        lum = _render(spec, objects[a:b], params[a:b])  # (B, T, H, W)
        B, T, H, W = lum.shape
        stacked = lum.transpose(1, 0, 2, 3).reshape(T, B * H, W)  # one camera for the chunk: fast
        seed = int(np.random.SeedSequence([spec.seed, 17, SPLITS.index(split), c]).generate_state(1)[0])
        spikes = simulate_spikes(stacked, spec.camera, seed=seed).reshape(T, B, H, W).transpose(1, 0, 2, 3)
        bar.update(b - a)
        yield np.ascontiguousarray(spikes), labels[a:b]
    bar.close()


# ----------------------------------------------------------------------------------------------- data sets
def cache_root(cache: str | os.PathLike | None = None) -> Path:
    if cache is not None:
        return Path(cache)
    env = os.environ.get("SPIKESCI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "spikesci"


class SpikeClassSet:
    """A split of labelled clips: `len`, `[i]` -> (spikes (T, H, W) uint8, label), `labels`, `class_names`."""

    def __init__(self, name: str, labels: np.ndarray, class_names: list[str], shape: tuple[int, int, int]):
        self.name = name
        self.labels = np.asarray(labels, np.int64)
        self.class_names = class_names
        self.shape = shape  # (T, H, W) of every clip (None entries: varies, folders only)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def spikes(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.spikes(i % len(self)), int(self.labels[i])


class PackedSet(SpikeClassSet):
    """A cached simulated split: packed bits (N, T, ceil(H*W/8)) memory-mapped from disk."""

    def __init__(self, folder: Path, split: str):
        meta = json.loads((folder / "meta.json").read_text())
        self.bits = np.load(folder / f"{split}_bits.npy", mmap_mode="r")
        super().__init__(
            meta["name"], np.load(folder / f"{split}_labels.npy"), meta["class_names"], tuple(meta["shape"])
        )
        self.split = split
        self.folder = folder

    def spikes(self, i: int) -> np.ndarray:
        T, H, W = self.shape
        return np.unpackbits(self.bits[i], axis=-1, count=H * W).reshape(T, H, W)


class NpzFolderSet(SpikeClassSet):
    """Real-layout `.npz` files (`spk` (T, H, W), `label`): a folder, or its train/val/test subfolder."""

    def __init__(self, files: list[Path], name: str, num_classes: int | None = None):
        if not files:
            raise SpikeFileError(f"{name}: no .npz files")
        labels = [_npz_label(f) for f in files]
        k = num_classes or (max(labels) + 1)
        with np.load(files[0], allow_pickle=False) as data:  # the first clip's shape (others may differ)
            key = next((k for k in ("spk", "spikes", "spike") if k in data.files), None)
            shape = tuple(int(v) for v in data[key].shape) if key else (None, None, None)
        super().__init__(name, np.asarray(labels), [str(i) for i in range(k)], shape)
        self.files = files

    def spikes(self, i: int) -> np.ndarray:
        from spikesci.io.npz import read_npz

        return np.asarray(read_npz(self.files[i]))


def _npz_label(path: Path) -> int:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "label" not in data.files:
                raise SpikeFileError(f"{path}: no 'label' key (a classification .npz needs spk and label)")
            return int(np.asarray(data["label"]).reshape(-1)[0])
    except (OSError, ValueError, EOFError) as exc:
        raise SpikeFileError(f"{path}: not a readable .npz file ({exc})") from None


def _folder_split(root: Path, split: str, seed: int = 0) -> list[Path]:
    """Files of a split: the subfolder if it exists, else a fixed 70/10/20 shuffle of all files by seed."""
    sub = root / split
    if sub.is_dir():
        return sorted(sub.rglob("*.npz"))
    files = sorted(root.rglob("*.npz"))
    order = np.random.default_rng([seed, 5]).permutation(len(files))
    n_test, n_val = round(0.2 * len(files)), round(0.1 * len(files))
    pick = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}[
        split
    ]
    return [files[i] for i in sorted(pick)]


def build_cache(spec: ClassifySpec, cache: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Generate every split of `spec` into the cache (once; later calls return the folder)."""
    folder = cache_root(cache) / "classify" / f"{spec.name}-{spec.fingerprint()}"
    if (folder / "meta.json").is_file():
        return folder
    tmp = folder.with_name(folder.name + f".part{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for split in SPLITS:
        bits, labels = [], []
        for spikes, lab in generate_split(spec, split, progress):
            flat = spikes.reshape(spikes.shape[0], spikes.shape[1], -1)
            bits.append(np.packbits(flat, axis=-1))
            labels.append(lab)
        np.save(tmp / f"{split}_bits.npy", np.concatenate(bits))
        np.save(tmp / f"{split}_labels.npy", np.concatenate(labels))
    meta = {
        "name": spec.name,
        "class_names": class_names(spec),
        "shape": [spec.frames, spec.height, spec.width],
        "spec": asdict(spec),
        "generator_version": GENERATOR_VERSION,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(tmp, folder)
    except OSError:  # another process made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_dataset(
    name: str | ClassifySpec,
    split: str = "train",
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> SpikeClassSet:
    """A split of a simulated set (s-digits, s-animals, s-natural, or a ClassifySpec) or of a folder of
    `.npz` files."""
    if split not in SPLITS:
        raise SpikeSciError(f"unknown split '{split}' (expected {', '.join(SPLITS)})")
    if isinstance(name, ClassifySpec):
        return PackedSet(build_cache(name, cache, progress), split)
    key = name.lower()
    if key in DATASETS:
        return PackedSet(build_cache(DATASETS[key], cache, progress), split)
    root = Path(name)
    if root.is_dir():
        files = _folder_split(root, split)
        k = max(_npz_label(f) for f in root.rglob("*.npz")) + 1 if files else None
        return NpzFolderSet(files, f"{root.name}/{split}", k)
    raise SpikeSciError(
        f"unknown data set '{name}' (known: {', '.join(DATASETS)}, or a folder of .npz files)"
    )
