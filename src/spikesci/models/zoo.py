"""Shipped weights and the perception pipeline built on them (FEM -> features -> FAM -> images).

Weights live in `spikesci/weights/` beside `manifest.json`:
    {"models": {"<name>": {"files": {"fem": "fem.pt", "fam": "fam.pt"}, "sha256": {"fem.pt": "..."},
                           "command": "spikesci train ...", "seed": 0, ...}}}
`load_perception(name)` checks every file's SHA-256 before loading, so a damaged or swapped file is a clear
error, never silent garbage. The codec (issue 5) registers its own models in the same manifest.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.errors import ModelMismatchError, SpikeSciError
from spikesci.models.analysis import FAM, FAMConfig
from spikesci.models.extract import FEM, FEMConfig
from spikesci.models.layers import dihedral, undihedral

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "perception"
"""Release 2: the FEM + FAM of the earlier learned codec ('sci-r2'), its stage-3 FAM and the release-2 heads,
kept so that their streams decode; also the fallback where no release 3 is installed."""
RECONSTRUCT_MODEL = "perception-r3.9"
"""The model of `reconstruct --method net` (release 3: full-resolution FEM, U-Net FAM); release 3.4's FEM
file, which every codec now codes, with the longest-trained 5-map FAM."""
# The FEM + FAM that CAAS through x265 / SVT-AV1 encodes with (its fine-tuned FAM is keyed to this FEM) and
# that the ATC NET curves run: the best shipped network (since session 16; release 3.5 before), so CAAS is
# measured against the strongest analyse-then-code anchor. Streams made on an earlier FEM decode with the
# release they name (codec manifest: "x265-r3"), so this may move on.
CAAS_MODEL = RECONSTRUCT_MODEL
CHUNK_MAPS = 16  # feature maps computed at once (bounds memory on long clips)
PHASES = ((0, 0), (1, 1), (0, 1), (1, 0))  # placements (dy, dx) of the FEM's 2x2 block grid
# views (layers.dihedral) averaged by reconstruct(ensemble=n): identity, mirror, + half turns, + quarter turns
ENSEMBLE_VIEWS = {1: (0,), 2: (0, 4), 4: (0, 2, 4, 6), 8: tuple(range(8))}


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: str | Path = WEIGHTS_DIR) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise SpikeSciError(f"{path}: no weights manifest (the package was installed without its weights)")
    return json.loads(path.read_text())


def verified_path(name: str, file: str, folder: str | Path = WEIGHTS_DIR) -> Path:
    """Path of a shipped weight file after checking its SHA-256 against the manifest."""
    entry = read_manifest(folder).get("models", {}).get(name)
    if entry is None:
        known = ", ".join(read_manifest(folder).get("models", {})) or "none"
        raise SpikeSciError(f"unknown model '{name}' (shipped: {known})")
    path = Path(folder) / file
    if not path.exists():
        raise SpikeSciError(f"{path}: weight file of model '{name}' is missing")
    want = entry.get("sha256", {}).get(file)
    got = sha256_file(path)
    if want != got:
        raise ModelMismatchError(f"{path}: checksum {got[:12]}... does not match the manifest "
                                 f"({str(want)[:12]}...): the file is damaged or from other weights")
    return path


def _load_blob(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


class Perception:
    """FEM + FAM with the helpers the CLI, the codec and the tasks use.

    stride: spike frames between feature maps; window: spike frames one map reads,
    [t - lookback, t + lookahead];
    maps: feature maps per FAM window (centre = maps // 2); scale: input pixels per feature pixel.
    """

    def __init__(self, fem: FEM, fam: FAM, name: str = "custom", checksum: str = "", fem_checksum: str = ""):
        self.fem, self.fam = fem.eval(), fam.eval()
        # checksum: FEM + FAM files; fem_checksum: the FEM file alone, which is all that decides the features
        # (so coded streams and classification heads stay valid when only the cloud-side FAM changes)
        self.name, self.checksum, self.fem_checksum = name, checksum, fem_checksum
        c = fem.config
        self.stride, self.window, self.lookback, self.lookahead = c.stride, c.window, c.lookback, c.lookahead
        self.channels, self.scale, self.maps = c.channels, c.scale, fam.config.maps

    # -- end side -------------------------------------------------------------------------------------
    def default_frames(self, length: int) -> np.ndarray:
        """Map times of a clip of `length` frames: lookback, lookback + stride, ... (whole windows inside)."""
        last = length - 1 - self.lookahead
        if last < self.lookback:
            return np.array([length // 2])
        return np.arange(self.lookback, last + 1, self.stride)

    def extract(self, spikes: np.ndarray, frames=None, progress: bool = False,
                phase: tuple[int, int] = (0, 0), view: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """Feature maps (N, C, ceil(H/2), ceil(W/2)) of a (T, H, W) clip at spike frames `frames` (default
        every `stride` frames with full windows). Windows that cross the clip's ends are mirrored in time.

        `phase` (dy, dx) in {0, 1}: shift the FEM's 2x2 block grid by edge-padding dy rows on top and dx
        columns on the left (the maps then cover one more row / column; see `reconstruct(phases=4)`).
        `view` in 0..7: the spikes are first turned by `layers.dihedral` (see `reconstruct(ensemble=...)`)."""
        spikes = _check_spikes(spikes)
        t_len = spikes.shape[0]
        frames = self.default_frames(t_len) if frames is None else np.asarray(frames, dtype=np.int64).ravel()
        if frames.size and (frames.min() < 0 or frames.max() >= t_len):
            raise SpikeSciError(f"feature frames must lie in 0..{t_len - 1}")
        out = []
        from tqdm import tqdm

        chunks = range(0, len(frames), CHUNK_MAPS)
        for a in tqdm(chunks, desc="features", disable=not progress or len(chunks) < 2):
            idx = frames[a:a + CHUNK_MAPS, None] - self.lookback + np.arange(self.window)[None]
            idx = _mirror(idx, t_len)
            x = torch.from_numpy(np.asarray(spikes[idx.ravel()]).reshape(idx.shape + spikes.shape[1:]))
            if view:
                x = dihedral(x, view).contiguous()
            if phase != (0, 0):
                x = F.pad(x.float(), (phase[1], 0, phase[0], 0), mode="replicate")
            with torch.no_grad():
                out.append(self.fem(_pad_even(x) if self.scale == 2 else x))
        feats = torch.cat(out) if out else torch.zeros(0, self.channels, 1, 1)
        return feats, frames

    # -- cloud side -----------------------------------------------------------------------------------
    def analyze(self, features: torch.Tensor, flows: torch.Tensor | None = None) -> torch.Tensor:
        """FAM on a window (N, C, h, w) or a batch of windows (B, N, C, h, w) -> (B, 1, 2h, 2w) luminance.

        Differentiable (use torch.no_grad() around it for inference); not clamped.
        """
        if features.dim() == 4:
            features = features[None]
            flows = None if flows is None else (flows[None] if flows.dim() == 4 else flows)
        return self.fam(features, flows)

    def reconstruct(self, spikes: np.ndarray, frames=None, batch: int = 4,
                    progress: bool = False, phases: int = 1,
                    ensemble: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Images (N, H, W) float32 in [0, 1] at spike frames `frames` (default: every map time).

        Each image uses the maps at frame + stride * (k - maps // 2), k = 0..maps-1 (mirrored at the ends).
        `phases` = 4 averages the images made on the four placements of the FEM's 2x2 block grid (PHASES):
        the half-resolution features alias fine texture differently on each, so the mean is sharper and
        cleaner (+0.4 dB on spike-REDS, docs/perception.md) at 4x the work. 1 = one pass (the default).
        `ensemble` = 2, 4 or 8 averages the images made on that many mirrored / turned views of the spikes
        (ENSEMBLE_VIEWS; training saw all eight): each view's errors differ, so the mean is cleaner
        (+0.19 dB on spike-REDS with 8 for release 3.2, docs/perception.md) at `ensemble` times the work.
        """
        if phases not in (1, 4):
            raise SpikeSciError(f"phases must be 1 or 4, got {phases}")
        if ensemble not in ENSEMBLE_VIEWS:
            views = ", ".join(map(str, ENSEMBLE_VIEWS))
            raise SpikeSciError(f"ensemble must be one of {views}, got {ensemble}")
        if phases == 4 and self.scale == 1:
            raise SpikeSciError(f"phases=4 applies to a half-resolution FEM; model '{self.name}' works at "
                                "full resolution (one pass sees every pixel)")
        spikes = _check_spikes(spikes)
        t_len, h, w = spikes.shape
        frames = self.default_frames(t_len) if frames is None else np.asarray(frames, dtype=np.int64).ravel()
        if frames.size and (frames.min() < 0 or frames.max() >= t_len):
            raise SpikeSciError(f"frames must lie in 0..{t_len - 1}")
        offsets = self.stride * (np.arange(self.maps) - self.maps // 2)
        images = np.empty((len(frames), h, w), dtype=np.float32)
        from tqdm import tqdm

        views = ENSEMBLE_VIEWS[ensemble]
        passes = -(-len(frames) // batch) * len(views) * phases  # the bar counts passes: a view is 1-10 s
        bar = tqdm(total=passes, desc="reconstruct", unit="pass", disable=not progress)
        for a in range(0, len(frames), batch):
            centre = frames[a:a + batch]
            times = _mirror(centre[:, None] + offsets[None], t_len)
            uniq, inv = np.unique(times, return_inverse=True)
            pick = torch.from_numpy(inv.reshape(times.shape))
            total = torch.zeros(len(centre), h, w)
            for view in views:
                vh, vw = (w, h) if view & 1 else (h, w)  # odd views are quarter turns
                for dy, dx in PHASES[:phases]:
                    feats, _ = self.extract(spikes, uniq, phase=(dy, dx), view=view)
                    with torch.no_grad():
                        img = self.fam(feats[pick])  # window (b, maps, C, h', w') -> (b, 1, H', W')
                    total += undihedral(img[:, 0, dy:dy + vh, dx:dx + vw], view).clamp(0, 1)
                    bar.update()
            images[a:a + batch] = (total / (phases * len(views))).numpy()
        bar.close()
        return images, frames


def _check_spikes(spikes) -> np.ndarray:
    if not hasattr(spikes, "shape") or len(spikes.shape) != 3:
        shape = getattr(spikes, "shape", None)
        raise SpikeSciError(f"spikes must be a (frames, height, width) array, got {shape}")
    if min(spikes.shape) < 1:
        raise SpikeSciError("spikes is empty")
    return spikes


def _mirror(idx: np.ndarray, length: int) -> np.ndarray:
    """Reflect frame indices into 0..length-1 (so windows at the clip's ends stay full)."""
    if length == 1:
        return np.zeros_like(idx)
    period = 2 * (length - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= length, period - idx, idx)


def _pad_even(x: torch.Tensor) -> torch.Tensor:
    """Replicate-pad height and width to even sizes (the FEM works on 2x2 blocks). Even sizes pass through
    untouched (uint8 spikes stay uint8: the FEM converts them itself); padding needs float."""
    ph, pw = x.shape[-2] % 2, x.shape[-1] % 2
    return F.pad(x.float(), (0, pw, 0, ph), mode="replicate") if ph or pw else x


def _kinds() -> dict:
    """Weight-file kinds of release 3 -> (module class, config class); other files are release 1/2."""
    from spikesci.models.fam_unet import UNetFAM, UNetFAMConfig
    from spikesci.models.fem_fullres import FullResFEM, FullResFEMConfig

    return {"fem-fullres": (FullResFEM, FullResFEMConfig), "fam-unet": (UNetFAM, UNetFAMConfig)}


def _from_blob(blob: dict, default: tuple) -> torch.nn.Module:
    module, config = _kinds().get(blob.get("kind"), default)
    net = module(config.from_dict(blob["config"]))
    net.load_state_dict(blob["state"])
    return net


def fam_from_blob(blob: dict) -> torch.nn.Module:
    """A FAM of the kind and size its weights file records, with its weights (stage-2 and stage-3 files
    alike; release 3 files say kind "fam-unet")."""
    return _from_blob(blob, (FAM, FAMConfig))


def fem_from_blob(blob: dict) -> torch.nn.Module:
    """The FEM a weights file records: the half-resolution release 1/2 FEM, or release 3 ("fem-fullres")."""
    return _from_blob(blob, (FEM, FEMConfig))


def build_perception(fem_blob: dict, fam_blob: dict, name: str = "custom", checksum: str = "",
                     fem_checksum: str = "") -> Perception:
    fem = fem_from_blob(fem_blob)
    fam = fam_from_blob(fam_blob)
    if fem_blob.get("kind") == "fem-fullres":  # full-resolution convolutions run ~2x faster channels-last
        fem = fem.to(memory_format=torch.channels_last)
        fam = fam.to(memory_format=torch.channels_last)
    for p in list(fem.parameters()) + list(fam.parameters()):
        p.requires_grad_(False)
    return Perception(fem, fam, name, checksum, fem_checksum)


def load_files(fem_path: str | Path, fam_path: str | Path, name: str = "custom") -> Perception:
    """A Perception from weight files outside the package (e.g. a training run's OUT/fem.pt, OUT/fam.pt)."""
    return build_perception(_load_blob(Path(fem_path)), _load_blob(Path(fam_path)), name,
                            fem_checksum=sha256_file(Path(fem_path)))


@lru_cache(maxsize=4)
def load_perception(name: str = DEFAULT_MODEL, folder: str | None = None) -> Perception:
    """The shipped perception model `name`, its files verified against manifest.json (SHA-256)."""
    folder = folder or str(WEIGHTS_DIR)
    entry = read_manifest(folder).get("models", {}).get(name)
    if entry is None:
        known = ", ".join(read_manifest(folder).get("models", {})) or "none"
        raise SpikeSciError(f"unknown model '{name}' (shipped: {known})")
    files = entry["files"]
    fem_path = verified_path(name, files["fem"], folder)
    fam_path = verified_path(name, files["fam"], folder)
    both = entry["sha256"][files["fem"]] + entry["sha256"][files["fam"]]
    checksum = hashlib.sha256(both.encode()).hexdigest()
    fem_checksum = entry["sha256"][files["fem"]]
    return build_perception(_load_blob(fem_path), _load_blob(fam_path), name, checksum, fem_checksum)


def load_reconstruction(folder: str | None = None, caas: bool = False) -> Perception:
    """The model of `reconstruct --method net` (RECONSTRUCT_MODEL), or with `caas` the one of the x265
    feature codec and of ATC NET (CAAS_MODEL); release 2 where the named release is absent."""
    known = read_manifest(folder or WEIGHTS_DIR).get("models", {})
    name = CAAS_MODEL if caas else RECONSTRUCT_MODEL
    return load_perception(name if name in known else DEFAULT_MODEL, folder)


def register_weights(name: str, files: dict[str, str | Path], meta: dict,
                     folder: str | Path = WEIGHTS_DIR) -> dict:
    """Copy weight files into `folder` and record them in manifest.json under models[name].

    files: role -> source path (e.g. {"fem": "run/fem.pt", "fam": "run/fam.pt"}); each is stored as
    `<name>-<role>.pt` with its SHA-256; `meta` (command, seed, data, wall time, machine, results) is kept
    beside. Other models' entries (e.g. the codec's) are left as they are.
    """
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest.setdefault("models", {})
    stored, sums = {}, {}
    for role, src in files.items():
        dest = folder / f"{name}-{role}.pt"
        if Path(src).resolve() != dest.resolve():
            shutil.copyfile(src, dest)
        stored[role] = dest.name
        sums[dest.name] = sha256_file(dest)
    manifest["models"][name] = {"files": stored, "sha256": sums, **meta}
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    load_perception.cache_clear()
    return manifest["models"][name]
