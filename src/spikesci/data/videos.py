"""Real video motion for training data v2: clips of real videos slowed to the spike rate.

Why: the generator's other scenes move rigidly (a window gliding over a still image, pasted objects on
straight paths). Real scenes also hold articulated and deforming motion (walking people, swaying
branches, turning wheels) and occlusions that no rigid path makes. The training pack (`make
training-data`) brings a few real videos (`training_data/videos/`); each becomes a source of such motion.

A video frame spans `k` spike frames, with `k` drawn so that its own motion lands in the spike-REDS range
(about 0.1 px per spike frame; a 10-30 fps video moves a few pixels per frame at 400 pixels wide).
Luminance between two video frames is their linear blend. At these rates successive frames differ by a
pixel or two, where a blend and true motion look alike to a 64x64 crop.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from spikesci.errors import SpikeSciError

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".y4m")
MAX_SIDE = 400  # videos are stored scaled to this long side (memory: ~0.1 GB for the pack's four)
# spike frames per video frame, log-uniform: 10-fps walking (1-2 px per frame at 400 wide) to 0.02-0.2 px
# per spike frame, as spike-REDS
SPIKE_FRAMES_PER_VIDEO_FRAME = (8.0, 80.0)


@lru_cache(maxsize=8)
def folder_files(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    """Files under `folder` with one of `suffixes` (lower case), recursively, in a fixed order."""
    return sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in suffixes)


def folder_videos(folder: str) -> list[str]:
    """Video files under `folder` (the training pack's `videos/`)."""
    return folder_files(folder, VIDEO_SUFFIXES)


_VIDEO_CACHE: dict[str, np.ndarray] = {}


def load_video(path: str, limit: int | None = None) -> np.ndarray:
    """(N, H, W) uint8 grey frames, long side at most MAX_SIDE; decoded once per process (`limit`: only the
    first frames, not cached: a quick check). An unreadable video is a SpikeSciError naming it."""
    if path in _VIDEO_CACHE:
        return _VIDEO_CACHE[path]
    import av

    frames = []
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            f = min(1.0, MAX_SIDE / max(w, h))
            size = (max(int(round(w * f)), 2), max(int(round(h * f)), 2))
            for frame in container.decode(stream):
                frames.append(frame.reformat(width=size[0], height=size[1], format="gray").to_ndarray())
                if limit is not None and len(frames) >= limit:
                    break
    except (av.error.FFmpegError, IndexError, ValueError, ZeroDivisionError) as exc:
        raise SpikeSciError(f"{path}: not a readable video ({type(exc).__name__})") from None
    if len(frames) < 2:
        raise SpikeSciError(f"{path}: fewer than 2 decodable video frames")
    out = np.stack(frames)
    if limit is None:
        _VIDEO_CACHE[path] = out
    return out


def video_source(rng: np.random.Generator, video: np.ndarray, frames: int, side: int) -> np.ndarray:
    """(frames, s, s) float32 in [0, 1]: a square crop of `video`, slowed to the spike rate by blending.

    `side` is the crop wanted (clipped to the video's size); a random mirror as the photographs get."""
    n, h, w = video.shape
    k = float(np.exp(rng.uniform(*np.log(SPIKE_FRAMES_PER_VIDEO_FRAME))))
    span = (frames - 1) / k  # video frames the sample covers
    span = min(span, n - 1.0)
    start = float(rng.uniform(0, n - 1 - span))
    pos = start + np.linspace(0.0, span, frames)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n - 2)
    a = (pos - i0).astype(np.float32)[:, None, None]
    s = min(side, h, w)
    y0, x0 = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))
    lo = video[i0, y0:y0 + s, x0:x0 + s].astype(np.float32)
    hi = video[i0 + 1, y0:y0 + s, x0:x0 + s].astype(np.float32)
    out = ((1 - a) * lo + a * hi) / 255.0
    return np.ascontiguousarray(out[:, :, ::-1] if rng.random() < 0.5 else out)
