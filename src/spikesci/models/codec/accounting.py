"""Where the learned codec's bits go: real range-coder bits per part of the stream (CAAS issue, item 1).

Every design change to the codec is judged by this split. `account(codec, feats, quality)` runs the real
`compress` with the range encoder wrapped: each `encode` call is charged the growth of the encoder's
output (`num_bits`) to the part that made it, found from the call stack: the intra or inter coder's
latents or hyperprior, the motion coder, the residual refinement, or the per-map mode (global motion /
skip). The parts sum to the range coder's output; `headers` is the rest of the payload (the GOP head and
the final flush), so the parts sum to the chunk's size exactly.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

PARTS = ("intra latents", "intra hyperprior", "inter latents", "inter hyperprior", "motion", "residual",
         "mode", "headers")


def _part(codec, frame) -> str:
    """The part an encode call belongs to, from the frames above it."""
    while frame is not None:
        name = Path(frame.f_code.co_filename).stem
        if name == "global_mode":
            return "mode"
        if name == "residual":
            return "residual"
        if name == "hyperprior" and frame.f_code.co_name == "compress":
            coder = frame.f_locals.get("self")
            level = "latents" if "q" in frame.f_locals else "hyperprior"  # z is coded before q exists
            if coder is codec.intra.coder:
                return f"intra {level}"
            if coder is getattr(codec.inter, "mv_coder", None):
                return "motion"
            return f"inter {level}"
        if name == "codec" and frame.f_code.co_name == "replay":  # a dry run's calls, replayed
            return getattr(frame.f_locals.get("args"), "part", "inter latents")
        frame = frame.f_back
    return "headers"


class _Labelled(tuple):
    """A recorded call's arguments with the part that made them (for dry runs replayed later)."""

    part: str = "inter latents"


class _CountingEncoder:
    def __init__(self, inner, codec, bits: dict):
        self.inner, self.codec, self.bits = inner, codec, bits

    def encode(self, *args) -> None:
        before = self.inner.num_bits()
        self.inner.encode(*args)
        self.bits[_part(self.codec, sys._getframe(1))] += self.inner.num_bits() - before

    def __getattr__(self, name):
        return getattr(self.inner, name)


@contextmanager
def _counting(codec, bits: dict):
    import constriction

    from spikesci.models.codec import codec as codec_module

    queue = constriction.stream.queue
    original, recorder_encode = queue.RangeEncoder, codec_module._Recorder.encode

    def make(*a, **k):
        return _CountingEncoder(original(*a, **k), codec, bits)

    def record(self, *args):
        labelled = _Labelled(args)
        labelled.part = _part(codec, sys._getframe(1))
        self.calls.append(labelled)

    queue.RangeEncoder = make
    codec_module._Recorder.encode = record
    try:
        yield
    finally:
        queue.RangeEncoder = original
        codec_module._Recorder.encode = recorder_encode


def account(codec, feats, quality: int, motion: str = "rdo") -> tuple[bytes, dict[str, int]]:
    """(payload, bits per part) of `codec.compress(feats, quality)`; the parts sum to 8 * len(payload)."""
    bits: dict[str, int] = defaultdict(int)
    with _counting(codec, bits):
        payload, _ = codec.compress(feats, quality, flows=False, motion=motion)
    bits["headers"] += 8 * len(payload) - sum(bits.values())
    return payload, {p: int(bits.get(p, 0)) for p in PARTS}


def compress_accounted(codec, feats, quality: int, motion: str = "rdo") -> tuple[bytes, dict[str, int]]:
    """Any `.sci` codec's compress() with its bits split by part: the learned codec's by call site (above),
    the conventional feature codecs' by component (side information, main and residual KLT components),
    named after the video codec ("x265 main", "svt-av1 main", ...)."""
    if hasattr(codec, "intra"):
        return account(codec, feats, quality, motion)
    payload, info = codec.compress(feats, quality, decoded=False)
    video = getattr(getattr(codec, "config", None), "video", "x265")
    return payload, {f"{video} {k}": v for k, v in info["bits"].items()}
