"""Start a release-3 run from a trained model, with a deeper FAM than the one it was trained with.

Why: the release-3 model underfits (train and validation PSNR move together on endless simulated data), so
more cloud-side capacity should pay, but a fresh deeper model would need the 30,000 steps again. Residual
blocks whose last convolution starts at zero are identities, so a FAM with more blocks per scale, loaded
with the trained weights and the new blocks zeroed, computes exactly what the trained one did and training
goes on from there (a "Net2Deeper" step). Likewise a FAM that reads more maps per picture (a longer
window of spikes, at no cost on the end side, which sends every map anyway) starts with the added maps'
input weights at zero. The FEM must match the source's exactly: it is the end side.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from spikesci.errors import SpikeSciError


def release_state(path: Path) -> dict:
    """The state dict of a release weights file ({"kind", "config", "state"}); a damaged file is one
    SpikeSciError naming it."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return blob["state"]
    except Exception as exc:  # noqa: BLE001 - say which file, not how unpickling failed
        raise SpikeSciError(f"{path}: not a release weights file ({type(exc).__name__})") from exc


def release_files(source: str | Path) -> tuple[Path, Path]:
    """(fem, fam) weights of `source`: a run folder (fem.pt, fam.pt) or a shipped model name."""
    folder = Path(source)
    if folder.is_dir():
        pair = folder / "fem.pt", folder / "fam.pt"
    else:
        from spikesci.models.zoo import WEIGHTS_DIR, read_manifest

        entry = read_manifest().get("models", {}).get(str(source))
        if entry is None:
            raise SpikeSciError(f"--init {source}: neither a run folder (fem.pt, fam.pt) nor a shipped model")
        pair = WEIGHTS_DIR / entry["files"]["fem"], WEIGHTS_DIR / entry["files"]["fam"]
    for p in pair:
        if not p.is_file():
            raise SpikeSciError(f"--init {source}: {p.name} is missing")
    return pair


INPUT_LAYERS = ("stem.0.weight", "base.weight")  # the U-Net FAM's layers that read the stacked maps


def _centre_inputs(state: dict, fam: nn.Module) -> dict:
    """A FAM that reads more maps per picture (--fam-maps): the source's input weights go to the centre
    maps' channels and the added outer maps' start at zero, so the grown FAM computes what the source did."""
    mine = fam.state_dict()
    out = dict(state)
    for key in INPUT_LAYERS:
        old, new = state.get(key), mine.get(key)
        if old is None or new is None or old.shape == new.shape:
            continue
        if old.shape[0] != new.shape[0] or old.shape[2:] != new.shape[2:] or old.shape[1] > new.shape[1]:
            continue  # not a pure growth in maps: load_state_dict reports it
        channels = getattr(getattr(fam, "config", None), "channels", 1)
        extra_maps = (new.shape[1] - old.shape[1]) // channels
        if extra_maps % 2:
            raise SpikeSciError("--fam-maps: the added maps must be as many before as after the centre")
        grown = torch.zeros_like(new)
        lo = extra_maps // 2 * channels
        grown[:, lo:lo + old.shape[1]] = old
        out[key] = grown
    return out


def grow_into(fem: nn.Module, fam: nn.Module, source: str | Path) -> list[str]:
    """Load `source`'s weights into `fem` (exactly) and `fam` (every tensor it has); the FAM's residual
    blocks that `source` lacks start as identities. Returns the names of those new blocks."""
    fem_path, fam_path = release_files(source)
    try:
        fem.load_state_dict(release_state(fem_path))
    except RuntimeError as exc:
        raise SpikeSciError(f"--init {source}: its FEM has another shape than this run's") from exc
    state = _centre_inputs(release_state(fam_path), fam)
    try:
        missing, unexpected = fam.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another size: a wider FAM, which this does not grow
        raise SpikeSciError(f"--init {source}: its FAM's layers have other widths than this run's") from exc
    if unexpected:
        raise SpikeSciError(f"--init {source}: its FAM has layers this run's lacks ({list(unexpected)[:3]}): "
                            "a FAM can grow, not shrink")
    new_blocks = sorted({k.rsplit(".", 2)[0] for k in missing})
    modules = dict(fam.named_modules())
    for name in new_blocks:
        block = modules.get(name)
        if block is None or not hasattr(block, "c2"):
            raise SpikeSciError(f"--init {source}: this run's FAM is not the source's with residual blocks "
                                f"added ({name} is missing from it)")
        nn.init.zeros_(block.c2.weight)
        nn.init.zeros_(block.c2.bias)
    return new_blocks
