"""The `.sci` stream's constants and header checks, without torch: `info`, `--help` and argument errors of
`encode`/`decode` need them and must start in a fraction of a second (issue 16); the codec lives in sci.py."""

from __future__ import annotations

from pathlib import Path

from spikesci.errors import ContainerError

MAGIC = b"SCI\x00"
# 2: the header is deflated with a preset dictionary (container flag); 3: the same with a dictionary that
# also knows the release-3.4 FEM, the x265 codec's since session 11 (without it an x265 header grew by
# ~45 bytes: 0.0012 bpp on a 64x64x86 classification clip). Version-1 and -2 streams still decode.
VERSION = 3
VERSIONS = (1, 2, 3)
# zlib preset dictionary of version-2 headers: the key names, usual values and the checksums of the codecs
# shipped when version 2 was made, so a header costs about 50 bytes instead of about 300 deflated alone (491
# plain; a sixth of a stream at the x265 codec's lowest quality). Part of the format: never change it for
# version 2.
HEADER_DICT = (
    b'{"channels":8,"codec_sha256":"170c1f512923c6d573c175df431f8562c3745dbd076505256ad52910a98fb948",'
    b'"fem_sha256":"3a7d7f3c8fa62156c7b3411e93d2df15ba73331d0d21cef638f67074963653c0","format":"sci",'
    b'"frames":1000,"gop":8,"height":250,"lookback":20,"map_frames":[20,40,60,80,100,120,140,160,180,200],'
    b'"maps":10,"model":"sci","motion":"local","quality":3,"stream_id":"","stride":20,"task_options":{},'
    b'"white_rate":0.6,"width":400,"window":41}'
    b'{"channels":2,"codec_sha256":"4acaa2e11ebba4937fcab14d83ccf1ddd25a84563b5ecbb46703a37e5696d4c9",'
    b'"fem_sha256":"8b972fb78d5096e748fe93077d526615571f2a741bf0c76caefeec1044612e3a","format":"sci",'
    b'"frames":301,"gop":8,"height":250,"lookback":20,"map_frames":[20,40,60,80,100,120,140,160,180,200,'
    b'220,240,260,280],"maps":14,"model":"x265","motion":"rdo","quality":1,"stream_id":"","stride":20,'
    b'"white_rate":0.5,"width":400,"window":41}'
)
# version 3's dictionary: version 2's, then the header of an x265 stream on the release-3.4 FEM (GOP 32).
# Part of the format: never change it for version 3.
HEADER_DICTS = {
    2: HEADER_DICT,
    3: HEADER_DICT + (
        b'{"channels":2,"codec_sha256":"4acaa2e11ebba4937fcab14d83ccf1ddd25a84563b5ecbb46703a37e5696d4c9",'
        b'"fem_sha256":"8b6cd3c9134c5028f3674b3e27ebc7654c137118d54ca9f5b37087f86097ddf6","format":"sci",'
        b'"frames":301,"gop":32,"height":250,"lookback":20,"map_frames":[20,40,60,80,100,120,140,160,180,'
        b'200,220,240,260,280],"maps":14,"model":"x265","motion":"rdo","quality":1,"stream_id":"",'
        b'"stride":20,"white_rate":0.5,"width":400,"window":41}'),
}
KIND = ".sci feature stream"
QUALITIES = [1, 2, 3, 4, 5]
DEFAULT_QUALITY = 3
DEFAULT_GOP = 8
# feature codecs of the release-3 maps through a conventional video codec (models/codec/conventional.py)
CONVENTIONAL = ("x265", "svt-av1")
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


def open_stream(path: str | Path):
    """A ContainerReader on a `.sci` file of any supported version (the caller closes it, or uses `with`)."""
    from spikesci.io.container import ContainerReader

    return ContainerReader(path, MAGIC, VERSIONS, KIND, header_dict=HEADER_DICTS)


def stream_header(path: str | Path) -> tuple[dict, int]:
    """(validated header, number of chunks) of a `.sci` file; reading the chunk index also refuses a
    truncated stream here, before any decoding."""
    with open_stream(path) as reader:
        return read_header(reader), reader.num_chunks
