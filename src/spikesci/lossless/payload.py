"""One chunk's payload, without numpy: frames u32 | flags u8 | n u32 | body | [zlib of each frame's last
`.dat` byte, when flags & 1].

The body is n 32-bit words of constriction's range coder (models "ctx"/"simple") or n bytes of the
compiled coder (model "mix"). The padding tail exists only for H*W not a multiple of 8 with non-zero
padding bits, so that unpack gives back the original `.dat` byte for byte.
"""

from __future__ import annotations

import struct
import zlib

from spikesci.errors import ContainerError

HEAD = struct.Struct("<IBI")
FLAG_PADDING = 1


def join(frames: int, body: bytes, n: int, padding: bytes | None) -> bytes:
    """The payload of `frames` frames; `padding` (each frame's last `.dat` byte) kept only if non-zero."""
    if padding is not None and any(padding):
        return HEAD.pack(frames, FLAG_PADDING, n) + body + zlib.compress(bytes(padding), 9)
    return HEAD.pack(frames, 0, n) + body


def split(payload: bytes, unit: int, expect_frames: int, where: str) -> tuple[int, memoryview, bytes | None]:
    """(frames, body, padding bytes or None); `unit` = bytes per body element (4: words, 1: bytes).
    Any inconsistency -> ContainerError naming `where`."""
    if len(payload) < HEAD.size:
        raise ContainerError(f"{where} is damaged (payload too short)")
    t, flags, n = HEAD.unpack_from(payload)
    end = HEAD.size + unit * n
    if t != expect_frames or flags & ~FLAG_PADDING or end > len(payload):
        raise ContainerError(f"{where} is damaged (inconsistent chunk header)")
    padding = None
    if flags & FLAG_PADDING:
        try:
            padding = zlib.decompress(payload[end:])
        except zlib.error:
            raise ContainerError(f"{where} is damaged (padding bytes)") from None
        if len(padding) != t:
            raise ContainerError(f"{where} is damaged (padding bytes)")
    elif end != len(payload):
        raise ContainerError(f"{where} is damaged (trailing bytes)")
    return t, memoryview(payload)[HEAD.size : end], padding
