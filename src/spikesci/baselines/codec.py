"""The one interface every conventional video codec implements, so a paradigm can loop over codecs.

A codec takes a sequence of 8-bit grey frames (T, H, W) (or 10-bit ones as uint16, where `pix_fmt_10` says
the codec takes them), a quality setting (the codec's own CRF or QP; `None` asks for lossless coding) and a
group-of-pictures length, and gives back a `Bitstream` whose size is the sum of the encoder's packet payloads
plus any out-of-band codec header (extradata): an elementary stream with its in-band parameter sets, no
container. `decode` returns the frames cropped back to (T, H, W).
Adding a codec is one subclass (see pyav.py and ffmpeg_cli.py), after CompressAI's bench tools.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from spikesci.errors import SpikeSciError


class CodecUnavailable(SpikeSciError):
    """The encoder or decoder of a codec is not on this machine (a skip, not a crash)."""


@dataclass(frozen=True)
class Bitstream:
    """What an encoder produced: packet payloads in decode order, the codec header, the original size."""

    codec: str
    quality: int | None
    packets: tuple[bytes, ...]
    extradata: bytes
    height: int
    width: int
    frames: int
    coded_height: int
    coded_width: int

    @property
    def num_bytes(self) -> int:
        """Real coded size: packet payloads + out-of-band header, no container overhead."""
        return sum(len(p) for p in self.packets) + len(self.extradata)


@dataclass(frozen=True)
class Coded:
    """A round trip: decoded frames, real size, and how long each side took."""

    frames: np.ndarray
    num_bytes: int
    encode_seconds: float
    decode_seconds: float
    codec: str
    quality: int | None


class Codec(ABC):
    """A conventional codec. Subclasses set the class attributes and implement `_encode` / `_decode`."""

    name: str = ""
    quality_name: str = "qp"  # what the integer quality means for this codec
    qualities: tuple[int, ...] = ()  # default settings, best quality first
    supports_lossless: bool = False
    align: int = 2  # coded sizes are padded (edge replicate) to a multiple of this
    min_size: tuple[int, int] = (16, 16)  # smallest coded (height, width)
    speeds: dict[str, str] = {}  # speed class (fast / medium / strong) -> this codec's own preset

    def __init__(self, preset: str | None = None):
        self.preset = preset

    @property
    def speed_preset(self) -> str | None:
        """The encoder preset in use: the one given, else the codec's "medium" one."""
        return self.preset or self.speeds.get("medium")

    @abstractmethod
    def availability(self) -> str | None:
        """None when the codec can run here, otherwise a sentence saying what is missing."""

    def available(self) -> bool:
        return self.availability() is None

    def require(self) -> None:
        reason = self.availability()
        if reason is not None:
            raise CodecUnavailable(f"codec {self.name}: {reason}")

    pix_fmt_10: str | None = None  # the 10-bit pixel format, where the codec takes uint16 frames (0..1023)

    def encode(self, frames: np.ndarray, quality: int | None, gop: int = 8) -> Bitstream:
        """Encode (T, H, W) uint8 grey frames, or uint16 10-bit ones where the codec takes them; quality
        None = lossless (if the codec supports it)."""
        self.require()
        frames = check_frames(frames, ten_bit=self.pix_fmt_10 is not None)
        if quality is None and not self.supports_lossless:
            raise SpikeSciError(f"codec {self.name} has no lossless mode")
        if gop < 1:
            raise SpikeSciError(f"group of pictures must be at least 1 frame, got {gop}")
        t, h, w = frames.shape
        padded = pad_frames(frames, self.coded_size(h, w, quality))
        packets, extradata = self._encode(padded, quality, int(gop))
        return Bitstream(self.name, quality, tuple(packets), bytes(extradata), h, w, t, *padded.shape[1:])

    def decode(self, stream: Bitstream) -> np.ndarray:
        """Decoded (T, H, W) frames (uint8, or uint16 for a 10-bit stream), cropped to the original size."""
        self.require()
        out = self._decode(stream)
        if out.shape[0] != stream.frames:
            raise SpikeSciError(f"codec {self.name}: decoded {out.shape[0]} frames, expected {stream.frames}")
        return np.ascontiguousarray(out[:, : stream.height, : stream.width])

    def roundtrip(self, frames: np.ndarray, quality: int | None, gop: int = 8) -> Coded:
        """Encode then decode, timing both sides."""
        t0 = time.perf_counter()
        stream = self.encode(frames, quality, gop)
        t1 = time.perf_counter()
        decoded = self.decode(stream)
        t2 = time.perf_counter()
        return Coded(decoded, stream.num_bytes, t1 - t0, t2 - t1, self.name, quality)

    def coded_size(self, height: int, width: int, quality: int | None) -> tuple[int, int]:
        """The padded size the encoder sees."""
        h = max(_round_up(height, self.align), self.min_size[0])
        w = max(_round_up(width, self.align), self.min_size[1])
        return _round_up(h, self.align), _round_up(w, self.align)

    def label(self, quality: int | None) -> str:
        return f"{self.name} lossless" if quality is None else f"{self.name} {self.quality_name}={quality}"

    @abstractmethod
    def _encode(self, frames: np.ndarray, quality: int | None, gop: int) -> tuple[list[bytes], bytes]:
        """Padded frames -> (packet payloads in decode order, extradata)."""

    @abstractmethod
    def _decode(self, stream: Bitstream) -> np.ndarray:
        """Bitstream -> padded decoded frames (T, coded_height, coded_width), uint8 or (10-bit) uint16."""


def check_frames(frames: np.ndarray, ten_bit: bool = False) -> np.ndarray:
    """(T, H, W) uint8 frames, or uint16 ones of at most 10 bits when the codec takes them (`ten_bit`)."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] < 1 or min(frames.shape[1:]) < 1:
        raise SpikeSciError(f"expected grey frames (T, H, W), got shape {frames.shape}")
    if ten_bit and frames.dtype == np.uint16:
        if int(frames.max()) > 1023:
            raise SpikeSciError("10-bit frames must hold values 0..1023")
        return np.ascontiguousarray(frames)
    if frames.dtype != np.uint8:
        want = "8-bit (uint8) or 10-bit (uint16)" if ten_bit else "8-bit (uint8)"
        raise SpikeSciError(f"expected {want} grey frames, got {frames.dtype}")
    return np.ascontiguousarray(frames)


def pad_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Edge-replicate padding to `size` (bottom and right), so cropping restores the original."""
    h, w = frames.shape[1:]
    if (h, w) == tuple(size):
        return frames
    return np.pad(frames, ((0, 0), (0, size[0] - h), (0, size[1] - w)), mode="edge")


def _round_up(x: int, m: int) -> int:
    return -(-int(x) // m) * m
