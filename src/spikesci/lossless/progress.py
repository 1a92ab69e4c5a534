"""Progress bars and the stats dict of pack / unpack, without numpy (shared by the fast unpack path)."""

from __future__ import annotations

import time
from collections.abc import Callable

from spikesci.io.frames import dat_frame_bytes

Progress = bool | Callable[[int, int | None], None]


class Bar:
    """Progress in frames: a tqdm bar with ETA on stderr (progress=True) once the work has taken half a
    second (short work starts faster without importing tqdm), or calls progress(done, total)."""

    def __init__(self, progress: Progress, total: int | None, desc: str):
        self.done, self.total, self.desc, self.bar = 0, total, desc, None
        self.show = progress is True
        self.fn = progress if callable(progress) else None
        self.t0 = time.perf_counter()

    def __call__(self, frames: int) -> None:
        self.done += frames
        if self.bar is not None:
            self.bar.update(frames)
        elif self.show and time.perf_counter() - self.t0 > 0.5:
            from tqdm import tqdm

            opts = dict(unit="frame", leave=False, dynamic_ncols=True)
            self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, **opts)
        elif self.fn is not None:
            self.fn(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def stats(nbytes, frames, height, width, seconds, spikes=None, **extra) -> dict:
    pixels = frames * height * width
    raw = frames * dat_frame_bytes(height, width)
    bpp = 8.0 * nbytes / pixels if pixels else 0.0
    out = {
        "bytes": int(nbytes),
        "raw_bytes": int(raw),
        "frames": int(frames),
        "height": int(height),
        "width": int(width),
        "bpp": bpp,
        "bits_per_spike_pixel": bpp,
        "ratio": raw / nbytes if nbytes else 0.0,
        "seconds": seconds,
        "mbps": raw / 1e6 / max(seconds, 1e-9),
        "mpix_s": pixels / 1e6 / max(seconds, 1e-9),
    }
    if spikes is not None:
        out["firing_rate"] = spikes / pixels if pixels else 0.0
    out.update(extra)
    return out


def unpack_stats(arc, src, start: int, stop: int, t0: float, **extra) -> dict:
    """`stats` of an unpack of frames [start, stop) of the open archive `arc` (read from `src`)."""
    from pathlib import Path

    return stats(
        Path(src).stat().st_size,
        stop - start,
        arc.height,
        arc.width,
        time.perf_counter() - t0,
        frame_range=[start, stop],
        archive_frames=arc.frames,
        source=arc.source,
        **extra,
    )
