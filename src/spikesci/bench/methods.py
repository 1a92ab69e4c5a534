"""The parts a paradigm's methods need, each skipped cleanly when missing: reconstructions (TFP, TFI and the
learned `net`, whatever shape its output takes) and the learned codec's facade (`spikesci.sci`) with its
stride, group of pictures and map times.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from spikesci.errors import SpikeSciError
from spikesci.reconstruct import DEFAULT_WINDOW, tfi, tfp
from spikesci.simulate.camera import DEFAULT_WHITE_RATE

RECONSTRUCTORS = ("tfp", "tfi", "net")

Reconstructor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (spikes, frames) -> (N, H, W) in [0, 1]


class MethodUnavailable(SpikeSciError):
    """A part a method needs (model, facade, encoder) is not installed: the method is skipped."""


def make_reconstructor(name: str, window: int = DEFAULT_WINDOW, white_rate: float = DEFAULT_WHITE_RATE
                       ) -> Reconstructor:
    """TFP / TFI / net at given spike frames; raises MethodUnavailable for `net` without a model."""
    if name == "tfp":
        return lambda spikes, frames: np.stack([tfp(spikes, int(f), window, white_rate) for f in frames])
    if name == "tfi":
        return lambda spikes, frames: np.stack([tfi(spikes, int(f), white_rate) for f in frames])
    if name == "net":
        return _net_reconstructor()
    raise SpikeSciError(f"unknown reconstruction '{name}' (choose from {', '.join(RECONSTRUCTORS)})")


def _net_reconstructor() -> Reconstructor:
    try:
        from spikesci.models.zoo import load_reconstruction

        model = load_reconstruction(caas=True)  # the network CAAS's features feed (CAAS_MODEL)
    except (ImportError, FileNotFoundError, SpikeSciError, AttributeError) as exc:
        raise MethodUnavailable(f"net reconstruction unavailable ({type(exc).__name__}: {exc})") from None
    params = inspect.signature(model.reconstruct).parameters
    key = next((k for k in ("frames", "centers", "center", "frame") if k in params), None)

    def run(spikes: np.ndarray, frames: np.ndarray) -> np.ndarray:
        if key in ("frames", "centers"):
            out = model.reconstruct(spikes, **{key: np.asarray(frames)})
        elif key is not None:
            return np.stack([_as_images(model.reconstruct(spikes, **{key: int(f)}), [f])[0] for f in frames])
        else:
            out = model.reconstruct(spikes)
        return _as_images(out, frames, spikes.shape[0])

    return run


def _as_images(out, frames, total: int | None = None) -> np.ndarray:
    """Normalise a model's output (array, (images, frames) or an object with .images/.frames) at `frames`."""
    got_frames = None
    if hasattr(out, "images"):
        out, got_frames = out.images, getattr(out, "frames", None)
    elif isinstance(out, tuple) and len(out) == 2:
        out, got_frames = out
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    images = np.asarray(out, dtype=np.float32)
    images = images.reshape((-1,) + images.shape[-2:])
    frames = np.asarray(frames)
    if got_frames is not None:
        return images[nearest(np.asarray(got_frames), frames)]
    if images.shape[0] == len(frames):
        return images
    if total is not None and images.shape[0] == total:
        return images[frames]
    raise SpikeSciError(f"net returned {images.shape[0]} images for {len(frames)} requested frames")


def nearest(available: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index into `available` of the entry nearest each wanted frame."""
    return np.abs(np.asarray(available)[None, :] - np.asarray(wanted)[:, None]).argmin(axis=1)


def caas_module():
    """The learned codec's facade, or MethodUnavailable saying why it cannot be used."""
    try:
        import spikesci.sci as sci
    except ImportError as exc:
        raise MethodUnavailable(f"CAAS skipped: spikesci.sci is not importable ({exc})") from None
    missing = [a for a in ("QUALITIES", "encode_spikes", "decode_file") if not hasattr(sci, a)]
    if missing:
        raise MethodUnavailable(f"CAAS skipped: spikesci.sci lacks {', '.join(missing)}")
    return sci


def end_kflops(method: str, window: int = 0, model: str | None = None) -> float:
    """Network FLOPs (thousands) per pixel the end side runs per image or map, before its codec (encoder
    FLOPs not counted: x265 / SVT-AV1 / the learned codec's are not torch-countable alike).

    tfp / tfi: a few additions per spike frame in the window (counted as `window` / 2 frames each);
    net (ATC): the whole release-3 network, FEM on one map + FAM; caas: the FEM of `model`'s perception."""
    if method in ("tfp", "tfi"):
        return (window or 32) / 1000.0
    key = (method, model)
    if key not in _KFLOPS:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        if method == "net":
            from spikesci.models.zoo import load_reconstruction

            per = load_reconstruction(caas=True)
        else:
            import spikesci.sci as sci

            per = sci.load_model(model).perception
        x = torch.zeros(1, per.window, 64, 64)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            per.fem(x)
            if method == "net":
                per.fam(torch.zeros(1, per.maps, per.channels, 64 // per.scale, 64 // per.scale))
        _KFLOPS[key] = fc.get_total_flops() / 64**2 / 1000.0
    return _KFLOPS[key]


_KFLOPS: dict = {}


def caas_offset(sci, anchor: int, model: str | None = None) -> int:
    """Spike frames to drop at the clip's start so that one of the learned codec's maps lands on `anchor`.

    The facade places maps at lookback + stride * k; without this, CAAS would be scored up to stride / 2
    frames away from the ground truth. 0 when the facade does not tell its map times.
    """
    try:
        per = sci.load_model(model).perception
        return int((anchor - per.lookback) % per.stride)
    except Exception:  # noqa: BLE001 - any facade without these attributes: no alignment
        return 0


def learned_stride() -> int | None:
    """The learned codec's stride: the facade's, else the shipped model's, else the FEM's default."""
    try:
        import spikesci.sci as sci

        for attr in ("STRIDE", "DEFAULT_STRIDE", "stride"):
            value = getattr(sci, attr, None)
            if isinstance(value, int) and value > 0:
                return value
    except ImportError:
        pass
    value = None
    try:
        from spikesci.models.zoo import load_perception

        value = getattr(load_perception(), "stride", None)
    except (ImportError, FileNotFoundError, AttributeError, SpikeSciError):
        try:
            from spikesci.models.extract import FEMConfig

            value = getattr(FEMConfig(), "stride", None)
        except (ImportError, TypeError, SpikeSciError):
            return None
    return int(value) if isinstance(value, int) and value > 0 else None
