"""Where classification features come from: the FEM (the paper's path), or TFP images (the baseline).

A source maps a clip (T, H, W) of spikes to a feature sequence (N, C, h, w). The head is trained on the
features of a frozen source (paper stage 2), so the features of a whole data set are computed once and
cached beside it (keyed by the source and its weights' checksum).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikesci.errors import SpikeSciError


@dataclass(frozen=True)
class TfpSource:
    """TFP images at `maps` evenly spaced centres: maps=1, window=41 is the classic single-image baseline."""

    maps: int = 1
    window: int = 41

    @property
    def name(self) -> str:
        return f"tfp{self.window}x{self.maps}"

    @property
    def key(self) -> str:
        return self.name

    def __call__(self, spikes: np.ndarray) -> torch.Tensor:
        from spikesci.reconstruct.tfp import tfp

        T = spikes.shape[0]
        centres = (
            np.linspace(0, T - 1, self.maps + 2)[1:-1].round().astype(int) if self.maps > 1 else [T // 2]
        )
        frames = np.stack([tfp(spikes, int(c), window=self.window) for c in centres])
        return torch.from_numpy(frames)[:, None]


RELEASE_SOURCE_PREFIX = "fem-r"  # fem-r3, fem-r3.4: the FEM of a named shipped release


class FemSource:
    """A shipped FEM (spikesci.models.zoo.load_perception), frozen: its feature maps over the clip."""

    def __init__(self, perception=None, name: str = "fem"):
        self.name = name
        if perception is None:
            try:
                from spikesci.models.zoo import load_perception
            except ImportError as exc:
                raise SpikeSciError(f"the FEM is not available in this build ({exc})") from None
            perception = load_perception()
        self.perception = perception
        self._key = _perception_key(perception)

    @property
    def key(self) -> str:
        return f"fem-{self._key}"

    @torch.no_grad()
    def __call__(self, spikes: np.ndarray) -> torch.Tensor:
        features, _frames = self.perception.extract(spikes)
        return torch.as_tensor(features).float()


def _perception_key(perception) -> str:
    """A short checksum of the FEM's weights alone (the FAM does not touch the features), so cached
    features and trained heads follow the FEM: the shipped file's SHA-256, else a hash of its tensors."""
    try:
        from spikesci.models.zoo import read_manifest

        entry = read_manifest().get("models", {}).get(getattr(perception, "name", ""), {})
        digest = entry.get("sha256", {}).get(entry.get("files", {}).get("fem", ""))
        if digest:
            return digest[:12]
    except SpikeSciError:
        pass
    module = getattr(perception, "fem", None) or perception
    h = hashlib.sha256()
    if isinstance(module, torch.nn.Module):
        for k, v in sorted(module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def get_source(name: str):
    """A feature source by name: 'fem' (release 2, the learned codec's FEM), 'fem-rX' (the FEM of the shipped
    release perception-rX: 'fem-r3.4' is the one the x265 feature codec codes, CAAS_MODEL; 'fem-r3' the
    earlier one that older x265 streams and heads name), 'fem:DIR' (DIR/fem.pt, fam.pt), or 'tfpW' / 'tfpWxN'.
    A name is tied to one release, not to "whatever is current": a head keeps the features it learned on."""
    if name == "fem":
        return FemSource()
    if name.startswith(RELEASE_SOURCE_PREFIX):
        from spikesci.models.zoo import load_perception

        try:
            perception = load_perception("perception-" + name.removeprefix("fem-"))
        except SpikeSciError as exc:
            raise SpikeSciError(f"unknown feature source '{name}' ({exc})") from None
        return FemSource(perception, name=name)
    if name.startswith("fem:"):  # a training run's folder with fem.pt and fam.pt (spikesci train --out DIR)
        from spikesci.models.zoo import load_files

        folder = Path(name[4:])
        if not (folder / "fem.pt").is_file():
            raise SpikeSciError(f"{folder}: no fem.pt (expected a training run's output folder)")
        return FemSource(load_files(folder / "fem.pt", folder / "fam.pt", name=folder.name))
    if name.startswith("tfp"):
        body = name[3:]
        try:
            window, _, maps = body.partition("x")
            return TfpSource(maps=int(maps or 1), window=int(window or 41))
        except ValueError:
            pass
    raise SpikeSciError(f"unknown feature source '{name}' (fem, tfp41, tfp13x4, ...)")


def compute_features(
    dataset,
    source,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    limit: int | None = None,
    dtype: torch.dtype = torch.float16,
) -> torch.Tensor:
    """Features (len, N, C, h, w) of every clip of a split, cached in `cache_dir` when given (float16: the
    heads do not notice; the codec does, at low rates, so stage 3 asks for float32 without a cache)."""
    if dtype != torch.float16:
        cache_dir = None
    from tqdm import tqdm

    n = len(dataset) if limit is None else min(limit, len(dataset))
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"features-{source.key}-{getattr(dataset, 'split', 'all')}-{n}.pt"
        if path.is_file():
            return torch.load(path, weights_only=True)
    out = None
    for i in tqdm(range(n), desc=f"{source.name} features", unit="clip", disable=not progress, leave=False):
        f = source(dataset.spikes(i))
        if out is None:
            out = torch.empty((n,) + tuple(f.shape), dtype=dtype)
        out[i] = f.to(dtype)
    if out is None:
        raise SpikeSciError("no clips to compute features of")
    if path is not None:
        tmp = path.with_name(path.name + f".part{os.getpid()}")
        torch.save(out, tmp)
        os.replace(tmp, path)
    return out
