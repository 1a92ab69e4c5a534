"""Range-code one chunk of spike frames: model "ctx"/"simple" with a `ChunkModel` and constriction's
queue range coder (below), model "mix" with its compiled coder (mix.py).

Within each phase of a frame the pixels are sorted (stably) by probability level. Each level's run
of bits is coded 8 at a time as one symbol of a fixed 256-letter model (the product of 8 Bernoullis
of that level), and the few bits left over after the last whole byte of every run go together
in one call with a Bernoulli per bit. So all per-pixel work is vectorized and the coder runs at
hundreds of millions of pixels per second.

The payload's framing (frame count, flags, the `.dat` padding bytes) is payload.py's.
"""

from __future__ import annotations

import constriction
import numpy as np

from spikesci.errors import ContainerError
from spikesci.lossless import payload
from spikesci.lossless.model import NUM_LEVELS, ChunkModel, ModelSpec, level_probabilities

_MODELS: dict = {}


def _byte_probabilities(q: float) -> np.ndarray:
    """P(byte) for 8 independent bits with P(1) = q, LSB first, as 8 exactly rounded multiplications
    (no pow: libm/SIMD pow may differ in the last bit between machines, products do not)."""
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(bool)
    p = np.ones(256)
    for j in range(8):
        p = p * np.where(bits[:, j], q, 1.0 - q)
    return p


def _byte_models() -> dict:
    """One 256-letter model per level (8 bits of that level's Bernoulli), plus a per-bit Bernoulli."""
    if not _MODELS:
        p = level_probabilities()
        _MODELS["p"] = p
        _MODELS["bytes"] = [
            constriction.stream.model.Categorical(_byte_probabilities(float(q)), perfect=False) for q in p
        ]
        _MODELS["bernoulli"] = constriction.stream.model.Bernoulli(perfect=False)
    return _MODELS


class _Plan:
    """How one phase's bits are laid out in the stream: sorted (stably) by level, each level's run as
    whole bytes, then every run's leftover bits. `main` / `tail` are the pixel indices of the two parts
    in stream order; `runs` is (model, number of bytes) for each level with a whole byte."""

    def __init__(self, lv: np.ndarray):
        order = np.argsort(lv, kind="stable")
        counts = np.bincount(lv, minlength=NUM_LEVELS)
        levels = np.flatnonzero(counts)
        n = counts[levels]
        nbytes = n // 8
        rest = n - nbytes * 8
        # in sorted order, the last `rest` bits of each level's run do not fill a byte (few: < 8 a level)
        rest_end = np.repeat(np.cumsum(n), rest)
        rest_first = np.cumsum(rest) - rest
        tail = rest_end - np.repeat(rest, rest) + (np.arange(rest_end.size) - np.repeat(rest_first, rest))
        self.tail = np.take(order, tail)
        self.main = np.delete(order, tail)
        models = _byte_models()
        self.rest_p = np.repeat(models["p"][levels], rest)
        self.nsym = int(nbytes.sum())
        self.runs = [(models["bytes"][lv_], nb) for lv_, nb in zip(levels.tolist(), nbytes.tolist()) if nb]


def _encode_phase(enc, bits: np.ndarray, lv: np.ndarray) -> None:
    plan = _Plan(lv)
    sym = np.packbits(np.take(bits, plan.main), bitorder="little").astype(np.int32)
    start = 0
    for model, nb in plan.runs:
        enc.encode(sym[start : start + nb], model)
        start += nb
    if plan.rest_p.size:
        enc.encode(np.take(bits, plan.tail).astype(np.int32), _byte_models()["bernoulli"], plan.rest_p)


def _decode_phase(dec, lv: np.ndarray) -> np.ndarray:
    plan = _Plan(lv)
    sym = np.empty(plan.nsym, dtype=np.uint8)
    start = 0
    for model, nb in plan.runs:
        sym[start : start + nb] = dec.decode(model, nb)
        start += nb
    bits = np.empty(lv.size, dtype=np.uint8)
    np.put(bits, plan.main, np.unpackbits(sym, bitorder="little"))
    if plan.rest_p.size:
        np.put(bits, plan.tail, dec.decode(_byte_models()["bernoulli"], plan.rest_p))
    return bits


def encode_chunk(spikes: np.ndarray, spec: ModelSpec, padding: np.ndarray | None = None) -> bytes:
    """(t, H, W) uint8 0/1 -> payload. `padding`: each frame's last `.dat` byte when pad bits are set.
    Model "mix": the payload's word count is a byte count and the stream is the compiled coder's."""
    t, h, w = spikes.shape
    if spec.name == "mix":
        from spikesci.lossless import mix

        stream = mix.encode(np.ascontiguousarray(spikes != 0).view(np.uint8), t, h, w)
        return payload.join(t, stream, len(stream), _padding_bytes(padding))
    model = ChunkModel(h, w, spec)
    perm = model.layout.perm
    enc = constriction.stream.queue.RangeEncoder()
    for f in range(t):
        frame = np.ascontiguousarray(spikes[f], dtype=np.uint8)
        bits = np.take(frame.ravel(), perm)
        model.begin_frame()
        for ph, sl in enumerate(model.phases):
            if sl.stop == sl.start:
                continue
            lv, ctxs = model.levels(ph, frame)
            _encode_phase(enc, bits[sl], lv)
            model.update_phase(ctxs, bits[sl])
        model.end_frame(frame, bits)
    words = enc.get_compressed()
    return payload.join(t, words.astype("<u4").tobytes(), len(words), _padding_bytes(padding))


def _padding_bytes(padding: np.ndarray | None) -> bytes | None:
    return None if padding is None else np.asarray(padding, dtype=np.uint8).tobytes()


def decode_chunk(
    data: bytes,
    height: int,
    width: int,
    spec: ModelSpec,
    expect_frames: int,
    where: str = "chunk",
    stop: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Payload -> ((t, H, W) uint8 spikes, padding bytes or None); with `stop`, only the first `stop`
    frames are decoded (and returned). Any inconsistency -> ContainerError."""
    t, body, raw_padding = payload.split(data, 1 if spec.name == "mix" else 4, expect_frames, where)
    padding = None if raw_padding is None else np.frombuffer(raw_padding, dtype=np.uint8)
    stop = t if stop is None else min(stop, t)
    if spec.name == "mix":
        from spikesci.lossless import mix

        out = np.empty((stop, height, width), dtype=np.uint8)
        mix.decode_into(body, stop, height, width, out)
        return out, padding
    words = np.frombuffer(body, dtype="<u4").astype(np.uint32)
    try:
        out = _decode_frames(words, t, height, width, spec, stop)
    except ContainerError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged stream must never escape as a traceback
        raise ContainerError(f"{where} is damaged (range decoder: {type(exc).__name__})") from None
    return out, padding


def _decode_frames(words: np.ndarray, t: int, h: int, w: int, spec: ModelSpec, stop: int) -> np.ndarray:
    """The first `stop` of the chunk's `t` frames (a frame range ending early stops decoding there)."""
    model = ChunkModel(h, w, spec)
    perm = model.layout.perm
    dec = constriction.stream.queue.RangeDecoder(words)
    out = np.zeros((stop, h, w), dtype=np.uint8)
    bits = np.empty(h * w, dtype=np.uint8)
    for f in range(out.shape[0]):
        frame = out[f]
        flat = frame.reshape(-1)
        model.begin_frame()
        for ph, sl in enumerate(model.phases):
            if sl.stop == sl.start:
                continue
            lv, ctxs = model.levels(ph, frame)
            bits[sl] = _decode_phase(dec, lv)
            flat[perm[sl]] = bits[sl]
            model.update_phase(ctxs, bits[sl])
        model.end_frame(frame, bits)
    return out
