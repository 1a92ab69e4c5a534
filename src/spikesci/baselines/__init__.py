"""Conventional video codecs behind one small interface, for the paradigm comparison (CTA / ATC).

`get_codec("x264")` gives a `Codec`; `codec.roundtrip(frames, quality, gop)` encodes (T, H, W) uint8 grey
frames and decodes them back with the real coded size. `codec_report()` says which codecs run here and why
the others do not, so a benchmark can skip them with a message instead of crashing.
"""

from __future__ import annotations

from spikesci.baselines.codec import Bitstream, Codec, CodecUnavailable, Coded, check_frames, pad_frames
from spikesci.baselines.ffmpeg_cli import Aom, Vvc
from spikesci.baselines.pyav import X264, X265, Ffv1, SvtAv1, Vp9
from spikesci.errors import SpikeSciError

# Every codec class, by name, in the order tables list them. Lossy first, then the lossless anchor.
CODECS: dict[str, type[Codec]] = {c.name: c for c in (X264, X265, SvtAv1, Vp9, Vvc, Aom, Ffv1)}
LOSSY_CODECS = ("x264", "x265", "svt-av1", "vp9", "vvc", "aom-av1")


SPEEDS = ("fast", "medium", "strong")


def get_codec(name: str, preset: str | None = None, speed: str | None = None) -> Codec:
    """A codec instance by name (see CODECS).

    `preset` is the codec's own speed preset (x264 "veryslow", SVT-AV1 "4", ...); `speed` picks one by class
    instead: "fast", "medium" (the codec's usual default) or "strong" (slow, best compression).
    """
    if name not in CODECS:
        raise SpikeSciError(f"unknown codec '{name}' (choose from {', '.join(CODECS)})")
    cls = CODECS[name]
    if preset is None and speed is not None:
        if speed not in SPEEDS:
            raise SpikeSciError(f"unknown speed '{speed}' (choose from {', '.join(SPEEDS)})")
        preset = cls.speeds.get(speed)
    return cls(preset=preset)


def codec_report() -> dict[str, str]:
    """name -> 'available' or the reason it is not, for every known codec."""
    return {name: (cls().availability() or "available") for name, cls in CODECS.items()}


def available_codecs(names: tuple[str, ...] | None = None) -> list[str]:
    return [n for n in (names or tuple(CODECS)) if get_codec(n).available()]


__all__ = [
    "SPEEDS", "Bitstream", "Codec", "Coded", "CodecUnavailable", "CODECS", "LOSSY_CODECS", "get_codec",
    "codec_report", "available_codecs", "check_frames", "pad_frames", "X264", "X265", "SvtAv1", "Vp9", "Ffv1",
    "Vvc", "Aom",
]
