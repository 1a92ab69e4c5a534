"""x264, x265, SVT-AV1, VP9 and FFV1 through FFmpeg's libraries (PyAV), in memory, one thread each.

Frames go straight into the encoder's codec context (no container, no muxer), so the size counted is the
packet payloads of the elementary stream (with in-band SPS/PPS or sequence headers) plus the codec's
extradata when it keeps a header out of band (FFV1 level 3). x265 and FFV1 code `gray` end to end; x264
takes `gray` and returns yuv420p; SVT-AV1 and VP9 only take yuv420p, so the grey frame is the Y plane and
chroma is a constant 128 (a few bytes per frame). No pixel-format conversion happens anywhere: a conversion
would rescale to limited range and spoil lossless coding. Quality is judged by PSNR, so encoders with
psycho-visual tuning are tuned for PSNR (x264 / x265 `tune=psnr`; SVT-AV1, libvpx default to PSNR).
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from spikesci.baselines.codec import Bitstream, Codec
from spikesci.errors import SpikeSciError

FRAME_RATE = 25  # nominal; rate control here is constant-quality, so the value only fills the headers


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency, but keep the skip clean
        return None
    return av


class PyAVCodec(Codec):
    """A codec run in-process through PyAV. Subclasses give names, pixel format and options."""

    encoder: str = ""
    decoders: tuple[str, ...] = ()
    pix_fmt: str = "gray"  # "gray" or "yuv420p" (Y plane + neutral chroma)

    def availability(self) -> str | None:
        av = _av()
        if av is None:
            return "PyAV (package `av`) is not installed"
        try:
            av.codec.Codec(self.encoder, "w")
        except Exception:  # noqa: BLE001 - any failure means the encoder is not built in
            return f"encoder '{self.encoder}' is not in this FFmpeg build (PyAV {av.__version__})"
        if self._decoder_name() is None:
            return f"none of the decoders {', '.join(self.decoders)} is in this FFmpeg build"
        return None

    def _decoder_name(self) -> str | None:
        av = _av()
        for name in self.decoders:
            try:
                av.codec.Codec(name, "r")
                return name
            except Exception:  # noqa: BLE001
                continue
        return None

    def options(self, quality: int | None, gop: int) -> dict[str, str]:
        """Encoder private options for this quality and group of pictures."""
        raise NotImplementedError

    def _encode(self, frames: np.ndarray, quality: int | None, gop: int) -> tuple[list[bytes], bytes]:
        av = _av()
        t, h, w = frames.shape
        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.width, ctx.height = w, h
        ctx.pix_fmt = self.pix_fmt if frames.dtype == np.uint8 else self.pix_fmt_10
        ctx.time_base = Fraction(1, FRAME_RATE)
        ctx.framerate = Fraction(FRAME_RATE, 1)
        ctx.gop_size = gop
        ctx.thread_count = 1
        ctx.options = self.options(quality, gop)
        packets: list[bytes] = []
        try:
            for i in range(t):
                frame = self._to_frame(av, frames[i])
                frame.pts = i
                packets.extend(bytes(p) for p in ctx.encode(frame))
            packets.extend(bytes(p) for p in ctx.encode(None))
        except av.error.FFmpegError as exc:
            raise SpikeSciError(f"codec {self.name} failed to encode {w}x{h}: {exc}") from None
        return packets, bytes(ctx.extradata or b"")

    def _to_frame(self, av, image: np.ndarray):
        fmt = self.pix_fmt if image.dtype == np.uint8 else self.pix_fmt_10
        if fmt.startswith("gray"):
            return av.VideoFrame.from_ndarray(image, format=fmt)
        h, w = image.shape
        chroma = np.full(h * w // 2, 128 if image.dtype == np.uint8 else 512, image.dtype)
        planar = np.concatenate([image.reshape(-1), chroma]).reshape(h * 3 // 2, w)
        return av.VideoFrame.from_ndarray(planar, format=fmt)

    def split(self, data: bytes) -> tuple[bytes, ...]:
        """An elementary stream (packets concatenated: HEVC Annex B start codes, AV1 OBUs with sizes) cut
        back into packets by FFmpeg's parser for the codec, so a container need not store packet lengths.
        The decoder gets the same pictures either way (tested)."""
        av = _av()
        ctx = av.CodecContext.create(self._decoder_name(), "r")
        try:
            return tuple(bytes(p) for p in ctx.parse(data) + ctx.parse(None))
        except av.error.FFmpegError as exc:
            raise SpikeSciError(f"codec {self.name}: cannot split the stream: {exc}") from None

    def _decode(self, stream: Bitstream) -> np.ndarray:
        av = _av()
        ctx = av.CodecContext.create(self._decoder_name(), "r")
        ctx.width, ctx.height = stream.coded_width, stream.coded_height
        ctx.thread_count = 1
        if stream.extradata:
            ctx.extradata = stream.extradata
        out = []
        try:
            for payload in stream.packets:
                out.extend(ctx.decode(av.Packet(payload)))
            out.extend(ctx.decode(None))
        except av.error.FFmpegError as exc:
            raise SpikeSciError(f"codec {self.name} failed to decode: {exc}") from None
        if not out:
            raise SpikeSciError(f"codec {self.name}: the decoder returned no frames")
        return np.stack([_luma(f, stream.coded_height) for f in out])


def _luma(frame, height: int) -> np.ndarray:
    """The Y plane of a decoded gray / yuv frame, as (H, W) uint8 (8-bit) or uint16 (10-bit)."""
    name = frame.format.name
    if name in ("gray", "gray10le"):
        return frame.to_ndarray()
    if name in ("yuv420p", "yuvj420p", "yuv420p10le"):
        return frame.to_ndarray()[:height]
    if name in ("yuv444p", "yuv422p"):
        return frame.to_ndarray()[0]
    raise SpikeSciError(f"unexpected decoded pixel format {name}")


class X264(PyAVCodec):
    """H.264 (x264), CRF; lossless at qp=0. GOP fixed to `gop` (no scene-cut keyframes)."""

    name = "x264"
    quality_name = "crf"
    qualities = (22, 27, 32, 37, 42, 47)
    supports_lossless = True
    speeds = {"fast": "faster", "medium": "medium", "strong": "veryslow"}
    encoder, decoders, pix_fmt = "libx264", ("h264",), "gray"

    def options(self, quality, gop):
        rc = {"qp": "0"} if quality is None else {"crf": str(quality)}
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        return {**rc, "preset": self.speed_preset, "tune": "psnr", "threads": "1", "x264-params": params}


class X265(PyAVCodec):
    """HEVC (x265), CRF; lossless=1. Lossless is padded to width >= 128 (not exact at widths <= 64 here)."""

    name = "x265"
    quality_name = "crf"
    qualities = (22, 27, 32, 37, 42, 47)
    supports_lossless = True
    speeds = {"fast": "fast", "medium": "medium", "strong": "slower"}
    encoder, decoders, pix_fmt = "libx265", ("hevc",), "gray"
    pix_fmt_10 = "gray10le"
    min_size = (64, 64)  # x265 4.x corrupts the heap on frames narrower than 64 (measured at 36x44)

    def coded_size(self, height, width, quality):
        h, w = super().coded_size(height, width, quality)
        return (h, max(w, 128)) if quality is None else (h, w)

    def __init__(self, preset: str | None = None, params: str = ""):
        super().__init__(preset)
        self.params = params  # extra x265 options ("key=value:..."), appended after the defaults

    def options(self, quality, gop):
        rc = "lossless=1" if quality is None else f"crf={quality}"
        params = f"{rc}:keyint={gop}:min-keyint={gop}:scenecut=0:info=0:log-level=error"
        params += ":pools=1:frame-threads=1" + (f":{self.params}" if self.params else "")
        return {"preset": self.speed_preset, "tune": "psnr", "x265-params": params}


class SvtAv1(PyAVCodec):
    """AV1 (SVT-AV1 encoder, dav1d decoder), CRF 0-63; yuv420p input."""

    name = "svt-av1"
    quality_name = "crf"
    qualities = (23, 31, 39, 47, 55, 63)
    speeds = {"fast": "10", "medium": "8", "strong": "4"}
    encoder, decoders, pix_fmt = "libsvtav1", ("libdav1d", "av1"), "yuv420p"
    pix_fmt_10 = "yuv420p10le"
    align = 8

    def options(self, quality, gop):
        os.environ.setdefault("SVT_LOG", "1")  # errors only: SVT-AV1 prints its config banner otherwise
        return {"crf": str(quality), "preset": self.speed_preset, "svtav1-params": f"keyint={gop}:lp=1"}


class Vp9(PyAVCodec):
    """VP9 (libvpx), constant quality (crf with b=0); lossless=1."""

    name = "vp9"
    quality_name = "crf"
    qualities = (13, 23, 33, 43, 53, 63)
    supports_lossless = True
    speeds = {"fast": "4", "medium": "2", "strong": "1"}
    encoder, decoders, pix_fmt = "libvpx-vp9", ("libvpx-vp9", "vp9"), "yuv420p"

    def options(self, quality, gop):
        rc = {"lossless": "1"} if quality is None else {"crf": str(quality), "b": "0"}
        speed = self.speed_preset
        return {**rc, "deadline": "good", "cpu-used": speed, "threads": "1", "row-mt": "0"}


class Ffv1(PyAVCodec):
    """FFV1 level 3, range coder with large contexts: FFmpeg's lossless intra codec (the lossless anchor)."""

    name = "ffv1"
    quality_name = "lossless"
    qualities = ()
    supports_lossless = True
    encoder, decoders, pix_fmt = "ffv1", ("ffv1",), "gray"

    def encode(self, frames, quality=None, gop=1):
        if quality is not None:
            raise SpikeSciError("codec ffv1 is lossless only (quality must be None)")
        return super().encode(frames, None, gop)

    def options(self, quality, gop):
        return {"level": "3", "coder": "1", "context": "1", "slices": "4", "slicecrc": "0", "threads": "1"}
