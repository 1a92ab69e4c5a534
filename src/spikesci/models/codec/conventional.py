"""CAAS through a conventional codec (the paper's "CAAS via VTM", Table V): feature maps coded by x265 or
SVT-AV1.

Why: the release-3 FEM sends 2 values per pixel per map, and they are nearly one image (the main KLT
component holds ~99 % of the energy), so an HEVC encoder (x265 via PyAV; in hardware on many cameras) codes
them far more cheaply than the learned codec does today. Per group of maps (one `.sci` chunk):

1. a KLT of the GOP's channels (basis and means sent as float32 side information);
2. each component quantised to 10 bits (x265) or 8 (SVT-AV1; every format-1 stream) over its own range
   (0.01-99.99 percentiles, sent as float32);
3. each component's planes coded as a grey video by x265 (or SVT-AV1), the main one at CRF `crf`, the
   residual ones at `crf + offset`, or not sent (`offset` None) at the lowest qualities.

Why 10 bits for x265: HEVC predicts and transforms at the planes' bit depth, and with the same CRF ladder
10-bit planes need 2-4 % fewer bits for the same decoded picture (BD-rate on the shared clips, the codec
doc); HEVC Main 10 is what camera encoders implement anyway. SVT-AV1 gained nothing from 10 bits (0 to +3 %),
so its planes stay 8-bit.

Decoding is HEVC / AV1 (bit-exact by the standards) followed by float64 arithmetic in a fixed order (no BLAS),
so the decoded maps are the same on every machine and thread count.

Chunk payload (little-endian): tag b"XKLT" (x265) or b"AKLT" (SVT-AV1), version u8, quality u8, maps u16,
channels u16, h u16, w u16; (format 2 only) bits per sample u8 (8 or 10); means C x f32, basis C*C x f32
(column k = component k), per component lo f32, hi f32, crf u8 (255: not sent), and for each sent component:
coded h u16, coded w u16, extradata (u32 length + bytes), then in format 2 the elementary stream (u32 length
+ the packets concatenated; FFmpeg's parser cuts it at decoding), in format 1 the packets (u32 count, then u32
length + bytes each: 4 bytes more per map, about 3 % of a quality-1 file).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
import torch

from spikesci.errors import ContainerError, ModelMismatchError, SpikeSciError

TAG = b"XKLT"
FORMAT_VERSION = 2  # 2: a bits-per-sample byte after the head and one elementary stream per component;
# format 1 (8-bit planes, packets with lengths) still decodes
BIT_DEPTHS = (8, 10)
NOT_SENT = 255
MAX_GOP = 255
# quality index (0..4 = `.sci` quality 1..5) -> (CRF of the main component, residual CRF offset or None):
# the Pareto front of a sweep with the fine-tuned FAM on the shared spike-REDS clips (CRF 22-49 x offsets
# none / 3-15, docs/codec.md): the main component alone is the front down to CRF 34 (0.003 bpp), the
# residual pays from there, at +9 around CRF 28 and +6 at CRF 22. CRF 46 reaches down to TFI's lowest rates.
QUALITY_SETTINGS: tuple[tuple[int, int | None], ...] = ((46, None), (40, None), (34, None), (28, 9), (22, 6))
# x265 options for feature planes, chosen on the shared spike-REDS clips (docs/codec.md): SAO off (its band
# and edge offsets cost bits that the FAM does not use; -5 % BD-rate against TFI+x265) and qcomp 0.7
# (steadier QP across the GOP). Encoder-side only: any HEVC decoder reads the streams, older ones included.
X265_PARAMS = "sao=0:qcomp=0.7"
# SVT-AV1's ladder (CRF 0-63): the Pareto front of the same sweep (docs/codec.md); CRF 63 is its lowest
# rate (0.0009-0.001 bpp on spike-REDS), the residual pays from main CRF 57 on, at +10
AV1_QUALITY_SETTINGS: tuple[tuple[int, int | None], ...] = (
    (63, None), (57, None), (54, 10), (45, 10), (30, 10))


@dataclass(frozen=True)
class VideoSpec:
    """What differs between the video codecs of this feature codec: chunk tag, CRF range, quality ladder."""

    tag: bytes
    max_crf: int
    ladder: tuple[tuple[int, int | None], ...]
    bits: int = 8  # bits per sample of the planes it writes


VIDEOS = {"x265": VideoSpec(TAG, 51, QUALITY_SETTINGS, bits=10),
          "svt-av1": VideoSpec(b"AKLT", 63, AV1_QUALITY_SETTINGS)}
# maps per GOP (one x265 keyframe each) unless the stream asks otherwise: the random-access period of
# standard test conditions (32 pictures). A feature map's intra picture costs several predicted ones, so
# longer GOPs pay: on 203_part3, -26 % BD-rate against TFI+x265 at 32 against +8.5 % at 8 (equal GOPs).
DEFAULT_GOP = 32
_HEAD = struct.Struct("<4sBBHHHH")
_DEPTH = struct.Struct("<B")
_COMP = struct.Struct("<ffB")
_U32 = struct.Struct("<I")
_SIZE = struct.Struct("<HH")


@dataclass(frozen=True)
class ConventionalConfig:
    """What a stream needs to agree on: channels per map and the video codec ("x265" or "svt-av1")."""

    channels: int = 2
    video: str = "x265"

    @property
    def in_channels(self) -> int:
        return self.channels


def klt(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, h, w) -> (basis (C, C) float32, columns by decreasing energy, sign fixed; means (C,))."""
    c = feats.shape[1]
    x = feats.transpose(1, 0, 2, 3).reshape(c, -1).astype(np.float64)
    mean = x.mean(axis=1)
    _, vecs = np.linalg.eigh(np.cov(x - mean[:, None]) if x.shape[1] > 1 else np.eye(c))
    basis = vecs[:, ::-1].copy()
    basis *= np.where(basis.sum(axis=0) < 0, -1.0, 1.0)  # a fixed sign: the first component grows with light
    return basis.astype(np.float32), mean.astype(np.float32)


def _project(feats: np.ndarray, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Components (C, N, h, w) = basis^T (x - mean), with the float32 side information as sent."""
    x = feats.astype(np.float64) - mean.astype(np.float64)[None, :, None, None]
    b = basis.astype(np.float64)
    return np.stack([sum(b[j, k] * x[:, j] for j in range(x.shape[1])) for k in range(b.shape[1])])


def _unproject(comps: np.ndarray, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Maps (N, C, h, w) float64 = mean + basis @ components, summed in a fixed order (same bits anywhere)."""
    b, m = basis.astype(np.float64), mean.astype(np.float64)
    out = []
    for j in range(b.shape[0]):
        acc = np.full(comps.shape[1:], m[j])
        for k in range(b.shape[1]):
            acc = acc + b[j, k] * comps[k]
        out.append(acc)
    return np.stack(out, axis=1)


def _range(comp: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(comp, [0.01, 99.99])
    lo, hi = float(np.float32(lo)), float(np.float32(hi))
    return lo, max(hi, float(np.float32(lo + 1e-6)))


def _quantise(comp: np.ndarray, lo: float, hi: float, bits: int = 8) -> np.ndarray:
    top = (1 << bits) - 1
    q = np.clip(np.round((comp - lo) / (hi - lo) * top), 0, top)
    return q.astype(np.uint8 if bits == 8 else np.uint16)


def _dequantise(q: np.ndarray, lo: float, hi: float, bits: int = 8) -> np.ndarray:
    return lo + q.astype(np.float64) / ((1 << bits) - 1) * (hi - lo)


class _Reader:
    """Bounds-checked reads from a chunk payload: a damaged chunk is one ContainerError, never a traceback."""

    def __init__(self, payload: bytes):
        self.buf, self.pos = memoryview(payload), 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ContainerError("feature stream chunk is truncated or damaged (video payload)")
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))


class ConventionalFeatureCodec:
    """The `.sci` codecs "x265" and "svt-av1": same contract as FeatureCodec (compress / decompress /
    config / sha256)."""

    def __init__(self, channels: int = 2, preset: str | None = None, video: str = "x265",
                 bits: int | None = None):
        from spikesci.baselines import get_codec
        from spikesci.baselines.pyav import X265

        if video not in VIDEOS:
            raise SpikeSciError(f"conventional feature codec must be one of {', '.join(VIDEOS)}, "
                                f"got {video!r}")
        bits = VIDEOS[video].bits if bits is None else bits
        if bits not in BIT_DEPTHS:
            raise SpikeSciError(f"feature planes must have 8 or 10 bits, got {bits}")
        self.config = ConventionalConfig(channels=channels, video=video)
        self.bits = bits  # what `compress` writes (the video's own depth by default); `decompress` reads
        # what each chunk says
        self.video = X265(preset, X265_PARAMS) if video == "x265" else get_codec(video, preset)
        spec = VIDEOS[video]
        self.tag, self.ladder, self.max_crf = spec.tag, spec.ladder, spec.max_crf
        # the checksum names the codec family that streams and fine-tuned FAMs are keyed to; it is frozen at
        # its format-1 text, since every chunk says its own format and bit depth
        desc = f"spikesci feature codec: KLT + 8-bit planes + {video}, v1, C={channels}"
        self.sha256 = hashlib.sha256(desc.encode()).hexdigest()
        self.meta: dict = {}

    def eval(self) -> ConventionalFeatureCodec:
        return self

    @property
    def levels(self) -> int:
        """Rate points (quality indices 0..levels-1), as FeatureCodec.levels: stage 3 loops over them."""
        return len(self.ladder)

    def require(self) -> None:
        reason = self.video.availability()
        if reason is not None:
            raise SpikeSciError(f"the {self.config.video} feature codec cannot run here: {reason}")

    def settings(self, quality: int) -> tuple[int, int | None]:
        if not 0 <= quality < len(self.ladder):
            raise SpikeSciError(f"{self.config.video} feature codec quality index must be "
                                f"0..{len(self.ladder) - 1}")
        return self.ladder[quality]

    def compress(self, feats: torch.Tensor, quality: int, flows: bool = False,
                 motion: str = "rdo", decoded: bool = True) -> tuple[bytes, dict]:
        """feats (N, C, h, w) -> (payload, dict(x_hat (N, C, h, w) float64 as the decoder gets it, flows
        (N-1, 2, h, w) zeros: this codec sends no motion, bits per part)). `flows`/`motion`: unused (the
        learned codec's options, accepted so both codecs are called alike). `decoded=False` (the end side,
        which keeps no reference) skips decoding its own stream: x_hat and flows are then None."""
        self.require()
        crf, offset = self.settings(quality)
        x = feats.detach().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
        n, c, h, w = x.shape
        if c != self.config.channels or not 1 <= n <= MAX_GOP or max(h, w) > 65535:
            raise ModelMismatchError(f"the {self.config.video} codec expects (1..{MAX_GOP}, "
                                     f"{self.config.channels}, h, w) maps, got {tuple(x.shape)}")
        basis, mean = klt(x)
        comps = _project(x, basis, mean)
        parts = [_HEAD.pack(self.tag, FORMAT_VERSION, quality, n, c, h, w), _DEPTH.pack(self.bits),
                 mean.astype("<f4").tobytes(), basis.astype("<f4").tobytes()]
        streams, bits = [], {"side": 0, "main": 0, "residual": 0}
        for k in range(c):
            lo, hi = _range(comps[k])
            k_crf = crf if k == 0 else (None if offset is None else min(crf + offset, self.max_crf))
            parts.append(_COMP.pack(lo, hi, NOT_SENT if k_crf is None else k_crf))
            planes = _quantise(comps[k], lo, hi, self.bits)
            streams.append(None if k_crf is None else self.video.encode(planes, k_crf, n))
        bits["side"] = 8 * sum(len(p) for p in parts)
        for k, s in enumerate(streams):
            if s is None:
                continue
            data = b"".join(s.packets)
            body = b"".join([_SIZE.pack(s.coded_height, s.coded_width), _U32.pack(len(s.extradata)),
                             s.extradata, _U32.pack(len(data)), data])
            bits["main" if k == 0 else "residual"] += 8 * len(body)
            parts.append(body)
        payload = b"".join(parts)
        out = self.decompress(payload) if decoded else {"x_hat": None, "flows": None}
        return payload, {"x_hat": out["x_hat"], "flows": out["flows"], "bits": bits}

    def decompress(self, payload: bytes, expect: tuple[int, int, int] | None = None) -> dict:
        """Inverse of `compress`: dict(x_hat (N, C, h, w) float64, flows zeros, quality, bits). `expect` =
        (maps, h, w) from the container header, checked before any decoding work."""
        from spikesci.baselines.codec import Bitstream

        r = _Reader(payload)
        tag, version, quality, n, c, h, w = r.unpack(_HEAD)
        bad = tag != self.tag or version not in (1, FORMAT_VERSION) or c != self.config.channels
        if bad or n < 1 or h < 1 or w < 1:
            raise ContainerError("feature stream chunk header is damaged or made by another codec")
        bits = 8 if version == 1 else r.unpack(_DEPTH)[0]
        if bits not in BIT_DEPTHS:
            raise ContainerError(f"feature stream chunk says {bits} bits per sample (damaged)")
        if quality >= len(self.ladder):
            raise ContainerError("feature stream chunk has an unknown quality")
        if expect is not None and (n, h, w) != tuple(expect):
            raise ContainerError(f"feature stream chunk holds {n} maps of {h}x{w}, the header says "
                                 f"{expect[0]} of {expect[1]}x{expect[2]}")
        mean = np.frombuffer(r.take(4 * c), dtype="<f4")
        basis = np.frombuffer(r.take(4 * c * c), dtype="<f4").reshape(c, c)
        comp_info = [r.unpack(_COMP) for _ in range(c)]
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(basis))):
            raise ContainerError("feature stream chunk side information is damaged")
        comps = np.zeros((c, n, h, w), dtype=np.float64)
        self.require()
        for k, (lo, hi, crf) in enumerate(comp_info):
            if crf == NOT_SENT:
                continue
            if crf > self.max_crf or not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ContainerError("feature stream chunk side information is damaged")
            ch, cw = r.unpack(_SIZE)
            extradata = r.take(r.unpack(_U32)[0])
            if ch < h or cw < w:
                raise ContainerError("feature stream chunk is damaged (video stream layout)")
            try:
                if version == 1:
                    count = r.unpack(_U32)[0]
                    if count > 4 * n + 16:
                        raise ContainerError("feature stream chunk is damaged (video stream layout)")
                    packets = tuple(r.take(r.unpack(_U32)[0]) for _ in range(count))
                else:
                    packets = self.video.split(r.take(r.unpack(_U32)[0]))
                stream = Bitstream(self.video.name, crf, packets, extradata, h, w, n, ch, cw)
                planes = self.video.decode(stream)
            except ContainerError:
                raise
            except SpikeSciError as exc:
                raise ContainerError(f"feature stream chunk is damaged ({exc})") from None
            if planes.shape != (n, h, w):
                raise ContainerError("feature stream chunk is damaged (video stream has the wrong size)")
            if planes.dtype != (np.uint8 if bits == 8 else np.uint16):
                raise ContainerError("feature stream chunk is damaged (video stream has the wrong bit depth)")
            comps[k] = _dequantise(planes, lo, hi, bits)
        if r.pos != len(payload):
            raise ContainerError("feature stream chunk has trailing bytes (damaged)")
        x_hat = torch.from_numpy(_unproject(comps, basis, mean))
        return {"x_hat": x_hat, "flows": torch.zeros(max(n - 1, 0), 2, h, w), "quality": quality}


def sci_model(name: str = "x265", fem_sha256: str | None = None):
    """The `.sci` model of this codec: a shipped release-3 perception (its FEM makes the maps) and, in the
    cloud, the FAM fine-tuned on x265-decoded maps (`spikesci train --stage fam-x265`) when the codec
    manifest lists one made on that FEM, else the perception's own FAM. SVT-AV1 streams use the same
    fine-tuned FAM: AV1 at these rates removes what HEVC removes (measured, docs/codec.md).

    The perception is CAAS_MODEL (what `encode` uses), or for decoding, the release whose FEM made the
    stream (`fem_sha256`, looked up among the manifest's conventional entries: "x265" now, "x265-r3" for
    streams of the earlier release), so streams outlive a new FEM."""
    from spikesci.models.zoo import CAAS_MODEL, load_perception, load_reconstruction
    from spikesci.sci import SciModel, _codec_manifest, _coded_fam, is_conventional

    try:
        models = _codec_manifest().get("models", {})
    except SpikeSciError:
        models = {}
    entries = {n: e for n, e in models.items() if is_conventional(e)}
    release = next((e["perception"] for e in entries.values()
                    if fem_sha256 and e.get("fem_sha256") == fem_sha256 and e.get("perception")), CAAS_MODEL)
    try:
        perception = load_perception(release)
    except SpikeSciError:  # no release 3 installed: release 2, as load_reconstruction falls back
        perception = load_reconstruction(caas=True)
    codec = ConventionalFeatureCodec(perception.channels, video=name)
    fam = perception.fam
    tuned = next((n for n, e in entries.items()
                  if e.get("fam_file") and e.get("fem_sha256") == perception.fem_checksum), None)
    if tuned is not None:
        tuned_on = codec if name == "x265" else ConventionalFeatureCodec(perception.channels)
        fam = _coded_fam(tuned, tuned_on, perception).to(memory_format=torch.channels_last)
    return SciModel(name, codec, perception, fam)
