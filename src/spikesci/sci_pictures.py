"""Pictures from decoded `.sci` features: the FAM on a window of decoded maps, the same on every machine.

The decoded features are exact (the codec's integer layers); the FAM after them is a float network whose
sums a different thread count reorders. In float32 that moved a few pixels by one grey level between
OMP_NUM_THREADS=1 and 2 (issue 16). So the FAM runs with torch pinned to one thread ("float32", the
default: the same pictures whatever OMP_NUM_THREADS or torch.set_num_threads say, on machines of one CPU
kind), or in float64 ("float64": reorderings stay ~1e-15, far below the 1/255 step of a picture, so the
pictures agree across CPU kinds too; about 6x slower, since CPU kernels for float64 convolutions are slow).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

PRECISIONS = ("float32", "float64")


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread for the duration (the order of every float sum then fixed)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        from spikesci.errors import SpikeSciError

        raise SpikeSciError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def fam_in(sm, precision: str) -> tuple[torch.nn.Module, torch.dtype]:
    """The model's picture FAM and its dtype; the float64 copy is made once per model."""
    if check_precision(precision) == "float32":
        return sm.fam, torch.float32
    fam = getattr(sm, "_fam64", None)
    if fam is None or getattr(sm, "_fam64_of", None) is not sm.fam:
        fam = copy.deepcopy(sm.fam).double().eval()
        sm._fam64, sm._fam64_of = fam, sm.fam
    return fam, torch.float64


def _window_flows(sm, feature, flow, idx: np.ndarray, precision: str) -> torch.Tensor | None:
    """Flows between consecutive maps of a (possibly mirrored) window: decoded ones where the pair was coded
    as (k, k+1) in one GOP, the FAM's own estimate elsewhere (GOP boundaries, mirrored ends, flows="fam").
    `feature(i)` and `flow(a)` (None when not coded) give decoded maps and the flow of pair (a, a+1)."""
    fam, dtype = fam_in(sm, precision)
    if not hasattr(fam, "flow"):  # a FAM that aligns maps itself (release 3): no flows
        return None
    out = []
    for a, b in zip(idx[:-1], idx[1:]):
        coded = flow(a) if b == a + 1 else None
        if coded is not None:
            out.append(coded.to(dtype))
        else:
            with torch.no_grad(), one_thread():
                out.append(fam.flow(feature(a)[None].to(dtype), feature(b)[None].to(dtype))[0])
    return torch.stack(out)


def _image(sm, feature, flow, i: int, n: int, h: int, w: int, precision: str = "float32") -> np.ndarray:
    from spikesci.models.zoo import _mirror

    fam, dtype = fam_in(sm, precision)
    maps = sm.maps
    idx = _mirror(i + np.arange(maps) - maps // 2, n)
    win = torch.stack([feature(j) for j in idx]).to(dtype)[None]
    fl = _window_flows(sm, feature, flow, idx, precision)
    fl = None if fl is None else fl[None]
    with torch.no_grad(), one_thread():
        img = fam(win, fl)
    return img[0, 0, :h, :w].clamp(0, 1).numpy().astype(np.float32)


def reconstruct_maps(sm, features: torch.Tensor, flows: list, header: dict, indices=None,
                     progress: bool = False, precision: str = "float32") -> np.ndarray:
    """Images (len(indices), H, W) in [0, 1] at the given map indices (default all): FAM on a window of
    `maps` decoded maps around each (mirrored at the ends), with decoded flows where coded."""
    from spikesci.progress import progress_bar

    n = features.shape[0]
    h, w = header["height"], header["width"]
    indices = range(n) if indices is None else indices
    images = np.empty((len(indices), h, w), dtype=np.float32)
    with progress_bar(len(indices), "decode", "map", enabled=progress) as bar:
        for j, i in enumerate(indices):
            images[j] = _image(sm, lambda k: features[k], lambda a: flows[a], int(i), n, h, w, precision)
            bar.update(1)
    return images


def iter_images(path: str | Path, model: str | None = None, flows: str = "codec",
                precision: str = "float32", only: set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (spike frame, image) map by map while decoding GOP by GOP: memory stays bounded by a few GOPs
    however long the stream is. `only`: the map indices wanted (the others are decoded, since later maps
    are predicted from them, but no picture is made); decoding stops after the last one."""
    from spikesci.sci import _model_for, iter_decode, open_stream, read_header

    check_precision(precision)
    with open_stream(path) as reader:
        hd = read_header(reader)
    sm = _model_for(hd, model)
    total, half = hd["maps"], sm.maps // 2
    h, w = hd["height"], hd["width"]
    feats: dict[int, torch.Tensor] = {}
    pair: dict[int, torch.Tensor | None] = {}
    nxt = 0
    for start, x_hat, fl in iter_decode(path, model):
        feats.update({start + k: x_hat[k] for k in range(x_hat.shape[0])})
        pair.update({start + k: (fl[k] if flows == "codec" else None) for k in range(fl.shape[0])})
        done = start + x_hat.shape[0]
        while nxt < total and (nxt + half < done or done == total):
            if only is None or nxt in only:
                image = _image(sm, feats.__getitem__, pair.get, nxt, total, h, w, precision)
                yield hd["map_frames"][nxt], image
            nxt += 1
            if only is not None and nxt > max(only, default=-1):
                return
            for k in [k for k in feats if k < nxt - 2 * half]:  # windows reach back `half` maps (margin x2)
                feats.pop(k)
                pair.pop(k, None)
