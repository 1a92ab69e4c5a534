"""Frame arithmetic shared by the readers and the archive, without numpy (the archive's fast unpack path
starts without importing it)."""

from __future__ import annotations

from spikesci.errors import SpikeFileError


def dat_frame_bytes(height: int, width: int) -> int:
    """Bytes one frame takes on disk (H*W bits rounded up to whole bytes)."""
    if height <= 0 or width <= 0:
        raise SpikeFileError(f"frame size must be positive, got {height}x{width}")
    return (height * width + 7) // 8


def frame_range(frames, total: int) -> tuple[int, int]:
    """Normalise `frames` (None, count, (start, stop), slice or range) to a checked [start, stop)."""
    if frames is None:
        return 0, total
    if isinstance(frames, bool) or type(frames).__name__ in ("bool", "bool_"):  # numpy's too, unimported
        raise SpikeFileError(f"frames must be a count or a range, got {frames!r}")
    if isinstance(frames, int) or hasattr(type(frames), "__index__"):  # numpy's ints too (not numbers: ~6 ms)
        if frames < 0:  # "the first -3 frames" means nothing; [-3:] is written (-3, None)
            raise SpikeFileError(f"frames={int(frames)}: a frame count must be 0 or more "
                                 f"(for the last frames give a range, e.g. (-3, None))")
        start, stop = 0, frames.__index__()
    elif isinstance(frames, (slice, range)):
        if frames.step not in (None, 1):
            raise SpikeFileError("frame ranges must be contiguous (step 1)")
        start = 0 if frames.start is None else frames.start
        stop = total if frames.stop is None else frames.stop
    else:
        start, stop = frames
        start = 0 if start is None else start
        stop = total if stop is None else stop
    if start < 0:
        start += total
    if stop < 0:
        stop += total
    if not 0 <= start <= stop <= total:
        raise SpikeFileError(f"frame range {start}:{stop} is outside the file's {total} frames")
    return int(start), int(stop)
