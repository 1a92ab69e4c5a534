"""One chunk framing for every spikesci file format (`.spkz` lossless archives, `.sci` feature streams).

    magic (4 bytes) | version u16 | flags u16 | header_len u32 | header_crc u32 | header (UTF-8 JSON)
    chunk*  : b"CHNK" | index u32 | length u32 | crc u32 | payload
    index   : b"INDX" | count u32 | count x (offset u64, length u32) | crc u32
    trailer : index_offset u64 | b"END."

Each chunk's CRC32 covers the stream id (random, in the header), the chunk index and the payload, so a
chunk spliced in from another file or another position is refused as well as a flipped bit. The index at
the end gives random access by chunk; a reader that walks chunk by chunk streams in bounded memory.
Everything is little-endian. Writers write to `NAME.part` and rename on success, so a failed or
interrupted write never leaves a file that looks whole. Flag bit 0 (HEADER_DEFLATED): the header is
raw-deflated compact JSON (the CRC covers the stored bytes), with the format's preset dictionary when it
has one (zlib's zdict: the key names and usual values, fixed for the format version); a feature stream at
its lowest rates is about 3 kB, and a plain header with its two checksums would be a sixth of it.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from spikesci.errors import ContainerError

_PREAMBLE = struct.Struct("<4sHHII")
_CHUNK = struct.Struct("<4sIII")
_INDEX_ENTRY = struct.Struct("<QI")
_TRAILER = struct.Struct("<Q4s")
CHUNK_TAG = b"CHNK"
INDEX_TAG = b"INDX"
END_TAG = b"END."
MAX_HEADER = 1 << 20
MAX_CHUNK = 1 << 31
HEADER_DEFLATED = 1  # preamble flag bit


def _chunk_crc(stream_id: bytes, index: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(stream_id + struct.pack("<I", index)))


class ContainerWriter:
    """Write a container chunk by chunk; `close()` adds the index and renames the file into place."""

    def __init__(self, path: str | os.PathLike, magic: bytes, version: int, header: dict,
                 deflate_header: bool = False, header_dict: bytes = b""):
        if len(magic) != 4:
            raise ValueError("magic must be 4 bytes")
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part")
        import secrets  # here, not at the top: a reader (the fast unpack path) starts ~8 ms sooner

        self.stream_id = secrets.token_bytes(8)
        header = dict(header, stream_id=self.stream_id.hex())
        if deflate_header:
            extra = {"zdict": header_dict} if header_dict else {}
            packer = zlib.compressobj(9, zlib.DEFLATED, -15, **extra)
            text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
            blob, flags = packer.compress(text) + packer.flush(), HEADER_DEFLATED
        else:
            blob, flags = json.dumps(header, sort_keys=True).encode(), 0
        self._fh = open(self._tmp, "wb")
        self._fh.write(_PREAMBLE.pack(magic, version, flags, len(blob), zlib.crc32(blob)) + blob)
        self._entries: list[tuple[int, int]] = []
        self.bytes_written = _PREAMBLE.size + len(blob)

    def write_chunk(self, payload: bytes) -> None:
        index = len(self._entries)
        offset = self._fh.tell()
        crc = _chunk_crc(self.stream_id, index, payload)
        self._fh.write(_CHUNK.pack(CHUNK_TAG, index, len(payload), crc))
        self._fh.write(payload)
        self._entries.append((offset, len(payload)))
        self.bytes_written += _CHUNK.size + len(payload)

    def close(self) -> None:
        """Write the index and trailer, then move the finished file into place."""
        index_offset = self._fh.tell()
        body = struct.pack("<4sI", INDEX_TAG, len(self._entries)) + b"".join(
            _INDEX_ENTRY.pack(o, n) for o, n in self._entries
        )
        self._fh.write(body + struct.pack("<I", zlib.crc32(body)) + _TRAILER.pack(index_offset, END_TAG))
        self._fh.close()
        os.replace(self._tmp, self.path)
        self.bytes_written = self.path.stat().st_size

    def abort(self) -> None:
        """Drop the partial file (on error)."""
        self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ContainerWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ContainerReader:
    """Validate and read a container: header on open, each chunk's CRC when it is read."""

    def __init__(self, path: str | os.PathLike, magic: bytes, versions: tuple[int, ...], kind: str = "file",
                 header_dict: bytes | dict[int, bytes] = b""):
        self._header_dict = header_dict  # one preset dictionary, or one per format version
        self.path = Path(path)
        if not self.path.is_file():
            raise ContainerError(f"{self.path}: no such file")
        self._fh = open(self.path, "rb")
        try:
            self._read_header(magic, versions, kind)
        except BaseException:
            self._fh.close()  # a refused file must not leak its handle
            raise

    def _read_header(self, magic: bytes, versions: tuple[int, ...], kind: str) -> None:
        self.size = self.path.stat().st_size
        name = self.path.name
        pre = self._fh.read(_PREAMBLE.size)
        if len(pre) < _PREAMBLE.size:
            raise ContainerError(f"{name}: too short to be a {kind} (truncated?)")
        got_magic, version, flags, hlen, hcrc = _PREAMBLE.unpack(pre)
        if got_magic != magic:
            raise ContainerError(f"{name}: not a {kind} (magic {got_magic!r}, expected {magic!r})")
        if version not in versions:
            raise ContainerError(
                f"{name}: {kind} format version {version} is not supported by this spikesci "
                f"(supported: {', '.join(map(str, versions))})"
            )
        if hlen > MAX_HEADER or _PREAMBLE.size + hlen > self.size:
            raise ContainerError(f"{name}: header is truncated or damaged")
        blob = self._fh.read(hlen)
        if zlib.crc32(blob) != hcrc:
            raise ContainerError(f"{name}: header is damaged (CRC mismatch)")
        try:
            if flags & HEADER_DEFLATED:
                zdict = (self._header_dict.get(version, b"") if isinstance(self._header_dict, dict)
                         else self._header_dict)
                extra = {"zdict": zdict} if zdict else {}
                unpacker = zlib.decompressobj(-15, **extra)
                blob = unpacker.decompress(blob, MAX_HEADER)
                if unpacker.unconsumed_tail or not unpacker.eof:
                    raise ValueError("header does not inflate")
            self.header = json.loads(blob)
            self.stream_id = bytes.fromhex(self.header["stream_id"])
        except (ValueError, KeyError, TypeError, zlib.error):
            raise ContainerError(f"{name}: header is not valid") from None
        self.version = version
        self.kind = kind
        self._data_start = _PREAMBLE.size + hlen
        self._index: list[tuple[int, int]] | None = None

    # -- random access -------------------------------------------------------------------------------
    def _load_index(self) -> list[tuple[int, int]]:
        if self._index is not None:
            return self._index
        name = self.path.name
        if self.size < self._data_start + _TRAILER.size + 12:
            raise ContainerError(f"{name}: file is truncated (no chunk index at the end)")
        self._fh.seek(self.size - _TRAILER.size)
        index_offset, end = _TRAILER.unpack(self._fh.read(_TRAILER.size))
        if end != END_TAG or not self._data_start <= index_offset <= self.size - _TRAILER.size - 12:
            raise ContainerError(f"{name}: file is truncated or its end is damaged (no valid chunk index)")
        self._fh.seek(index_offset)
        body_len = self.size - _TRAILER.size - 4 - index_offset
        body = self._fh.read(body_len)
        (crc,) = struct.unpack("<I", self._fh.read(4))
        tag, count = struct.unpack("<4sI", body[:8]) if len(body) >= 8 else (b"", 0)
        if tag != INDEX_TAG or zlib.crc32(body) != crc or len(body) != 8 + count * _INDEX_ENTRY.size:
            raise ContainerError(f"{name}: chunk index is damaged")
        entries = [_INDEX_ENTRY.unpack_from(body, 8 + i * _INDEX_ENTRY.size) for i in range(count)]
        prev_end = self._data_start
        for i, (off, n) in enumerate(entries):
            if off != prev_end or off + _CHUNK.size + n > index_offset:
                raise ContainerError(f"{name}: chunk index is inconsistent at chunk {i}")
            prev_end = off + _CHUNK.size + n
        if prev_end != index_offset:
            raise ContainerError(f"{name}: chunk index does not cover the file")
        self._index = entries
        return entries

    @property
    def num_chunks(self) -> int:
        return len(self._load_index())

    def read_chunk(self, index: int) -> bytes:
        """Payload of chunk `index`, CRC-checked."""
        entries = self._load_index()
        if not 0 <= index < len(entries):
            raise ContainerError(f"{self.path.name}: chunk {index} does not exist ({len(entries)} chunks)")
        offset, _ = entries[index]
        self._fh.seek(offset)
        return self._read_chunk_here(index, len(entries))

    def _read_chunk_here(self, index: int, total: int | None) -> bytes:
        name = self.path.name
        of = f" of {total}" if total is not None else ""
        head = self._fh.read(_CHUNK.size)
        if len(head) < _CHUNK.size:
            raise ContainerError(f"{name}: chunk {index}{of} is truncated")
        tag, got_index, length, crc = _CHUNK.unpack(head)
        if tag != CHUNK_TAG or got_index != index or length > MAX_CHUNK:
            raise ContainerError(f"{name}: chunk {index}{of} is damaged (bad chunk header)")
        payload = self._fh.read(length)
        if len(payload) < length:
            raise ContainerError(f"{name}: chunk {index}{of} is truncated")
        if _chunk_crc(self.stream_id, index, payload) != crc:
            raise ContainerError(f"{name}: chunk {index}{of} is damaged (CRC mismatch)")
        return payload

    def iter_chunks(self) -> Iterator[bytes]:
        """Every chunk in order, after checking the index (so truncation is caught before any output)."""
        total = self.num_chunks
        for i in range(total):
            yield self.read_chunk(i)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
