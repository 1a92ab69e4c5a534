"""The `.sci` stream's constants and header checks, without torch: `info`, `--help` and argument errors of
`encode`/`decode` need them and must start in a fraction of a second (issue 16); the codec lives in sci.py."""

from __future__ import annotations

from pathlib import Path

from spikesci.errors import ContainerError

MAGIC = b"SCI\x00"
VERSION = 2  # 2: the header is deflated (container flag); version-1 streams still decode
VERSIONS = (1, 2)
KIND = ".sci feature stream"
QUALITIES = [1, 2, 3, 4, 5]
DEFAULT_QUALITY = 3
DEFAULT_GOP = 8
DEFAULT_CODEC = "sci"
MAX_FRAMES = 1 << 31
# the codec's motion modes (models/codec/codec.py MOTION_MODES; tests/test_startup.py keeps them equal)
MOTION_MODES = ("rdo", "local")


def _int(header: dict, key: str, lo: int, hi: int) -> int:
    v = header.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ContainerError(f".sci header field '{key}' is missing or invalid ({v!r})")
    return v


def read_header(reader) -> dict:
    """Validate the header of an open `.sci` container (every field the decoder relies on)."""
    hd = reader.header
    if hd.get("format") != "sci":
        raise ContainerError(f"{reader.path.name}: not a {KIND}")
    for key, lo, hi in (("height", 1, 65535), ("width", 1, 65535), ("frames", 1, MAX_FRAMES),
                        ("window", 1, 4096), ("lookback", 0, 4096), ("stride", 1, 4096), ("gop", 1, 255),
                        ("maps", 0, MAX_FRAMES), ("channels", 1, 4096), ("quality", 0, 255)):
        _int(hd, key, lo, hi)
    if hd["height"] * hd["width"] > 1 << 25:
        raise ContainerError(f".sci header frame size {hd['height']}x{hd['width']} is implausibly large")
    if hd["quality"] not in QUALITIES:
        raise ContainerError(f".sci header quality {hd['quality']} is not one of {QUALITIES}")
    mf = hd.get("map_frames")
    if not isinstance(mf, list) or len(mf) != hd["maps"] or not all(isinstance(f, int) for f in mf):
        raise ContainerError(".sci header field 'map_frames' is missing or invalid")
    if not isinstance(hd.get("codec_sha256"), str) or not isinstance(hd.get("model"), str):
        raise ContainerError(".sci header does not name its codec")
    return hd


def stream_header(path: str | Path) -> tuple[dict, int]:
    """(validated header, number of chunks) of a `.sci` file; reading the chunk index also refuses a
    truncated stream here, before any decoding."""
    from spikesci.io.container import ContainerReader

    with ContainerReader(path, MAGIC, VERSIONS, KIND) as reader:
        return read_header(reader), reader.num_chunks
