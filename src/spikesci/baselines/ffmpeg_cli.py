"""Optional codecs through imageio-ffmpeg's static ffmpeg binary: VVC (libvvenc) and AV1 (libaom).

PyAV's FFmpeg has neither. imageio-ffmpeg (`pip install spikesci[vvc]`, about 165 MB, GPLv3) ships an
ffmpeg executable that has both; it is driven as a subprocess, never required. Raw frames go in on stdin
and an elementary stream comes out (`-f vvc`: Annex-B VVC; `-f obu`: low-overhead AV1 OBUs), so the byte
count has the same meaning as for the PyAV codecs: payload and in-band headers, no container. Frames are
handed over as planar YUV with neutral chroma in the encoder's own bit depth, and decoded back in the same
format, so ffmpeg never converts pixel formats (a conversion would change the grey values).
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from spikesci.baselines.codec import Bitstream, Codec
from spikesci.errors import SpikeSciError

TIMEOUT_S = 3600


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str | None:
    """Path of imageio-ffmpeg's binary, or None when the package is not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - a broken install is the same as none here
        return None


@functools.lru_cache(maxsize=4)
def _listing(exe: str, what: str) -> str:
    try:
        run = subprocess.run([exe, "-hide_banner", what], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return run.stdout


class FFmpegCliCodec(Codec):
    """A codec driven through the ffmpeg executable of imageio-ffmpeg."""

    encoder: str = ""
    muxer: str = ""
    suffix: str = ".bin"
    pix_fmt: str = "yuv420p"  # or "yuv420p10le": values are shifted left by 2 bits on the way in

    def availability(self) -> str | None:
        exe = ffmpeg_exe()
        if exe is None:
            return "needs the optional package imageio-ffmpeg (pip install 'spikesci[vvc]')"
        if f" {self.encoder} " not in _listing(exe, "-encoders"):
            return f"encoder '{self.encoder}' is not in imageio-ffmpeg's ffmpeg ({exe})"
        return None

    def encoder_args(self, quality: int | None, gop: int) -> list[str]:
        raise NotImplementedError

    def _run(self, args: list[str], data: bytes | None) -> bytes:
        quiet = ["-hide_banner", "-loglevel", "error", "-y", *(["-nostdin"] if data is None else [])]
        cmd = [ffmpeg_exe(), *quiet, *args]
        stdin = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, **stdin)
        except subprocess.TimeoutExpired:
            raise SpikeSciError(f"codec {self.name}: ffmpeg ran past {TIMEOUT_S} s") from None
        if run.returncode != 0:
            tail = run.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise SpikeSciError(f"codec {self.name}: ffmpeg failed: {' | '.join(tail)}")
        return run.stdout

    def _encode(self, frames: np.ndarray, quality: int | None, gop: int) -> tuple[list[bytes], bytes]:
        t, h, w = frames.shape
        raw = _to_planar(frames, self.pix_fmt)
        with tempfile.TemporaryDirectory(prefix="spikesci-") as tmp:
            out = Path(tmp) / f"stream{self.suffix}"
            self._run(
                ["-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{w}x{h}", "-r", "25", "-i", "-",
                 "-c:v", self.encoder, *self.encoder_args(quality, gop), "-f", self.muxer, str(out)],
                raw,
            )
            payload = out.read_bytes()
        return [payload], b""

    def _decode(self, stream: Bitstream) -> np.ndarray:
        h, w = stream.coded_height, stream.coded_width
        with tempfile.TemporaryDirectory(prefix="spikesci-") as tmp:
            path = Path(tmp) / f"stream{self.suffix}"
            path.write_bytes(b"".join(stream.packets))
            args = ["-f", self.muxer, "-i", str(path), "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-"]
            raw = self._run(args, None)
        return _from_planar(raw, h, w, self.pix_fmt)


def _to_planar(frames: np.ndarray, pix_fmt: str) -> bytes:
    t, h, w = frames.shape
    if pix_fmt == "yuv420p10le":
        luma = frames.astype("<u2") << 2
        chroma = np.full((t, h * w // 2), 512, "<u2")
    else:
        luma, chroma = frames, np.full((t, h * w // 2), 128, np.uint8)
    return np.concatenate([luma.reshape(t, -1), chroma], axis=1).tobytes()


def _from_planar(raw: bytes, h: int, w: int, pix_fmt: str) -> np.ndarray:
    dtype = np.dtype("<u2") if pix_fmt == "yuv420p10le" else np.dtype(np.uint8)
    per_frame = h * w * 3 // 2
    data = np.frombuffer(raw, dtype)
    if data.size % per_frame:
        raise SpikeSciError(f"decoded {data.size} samples, not a whole number of {w}x{h} frames")
    luma = data.reshape(-1, per_frame)[:, : h * w].reshape(-1, h, w)
    if dtype.itemsize == 2:
        return np.clip((luma.astype(np.int32) + 2) >> 2, 0, 255).astype(np.uint8)
    return luma.copy()


class Vvc(FFmpegCliCodec):
    """VVC (Fraunhofer VVenC), the paper's strongest anchor (VTM-class): fixed QP, no perceptual QPA."""

    name = "vvc"
    quality_name = "qp"
    qualities = (22, 27, 32, 37, 42, 47)
    speeds = {"fast": "faster", "medium": "medium", "strong": "slower"}
    encoder, muxer, suffix, pix_fmt = "libvvenc", "vvc", ".266", "yuv420p10le"
    align = 8

    def encoder_args(self, quality, gop):
        return ["-preset", self.speed_preset, "-qp", str(quality), "-qpa", "0", "-g", str(gop),
                "-vvenc-params", f"IntraPeriod={gop}:Threads=1"]


class Aom(FFmpegCliCodec):
    """AV1 with the reference encoder libaom, constant quality (crf, b=0)."""

    name = "aom-av1"
    quality_name = "crf"
    qualities = (23, 31, 39, 47, 55, 63)
    speeds = {"fast": "6", "medium": "4", "strong": "2"}
    encoder, muxer, suffix, pix_fmt = "libaom-av1", "obu", ".obu", "yuv420p"
    align = 8

    def encoder_args(self, quality, gop):
        return ["-crf", str(quality), "-b:v", "0", "-cpu-used", self.speed_preset, "-g", str(gop),
                "-keyint_min", str(gop), "-threads", "1", "-row-mt", "0"]
