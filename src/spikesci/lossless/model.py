"""Context models for the next bit of every spike pixel, deterministic on every machine.

An integrate-and-fire pixel fires again roughly one inter-spike interval (ISI) after its last spike,
so the best single clue is (tau = frames since the last spike, d1 = last ISI). The "simple" model codes
with that context alone. The "ctx" model refines it in two stages:

* stage 1: counts for (tau, d1, d2 - d1 clipped to +-3), backed off towards the (tau, d1) estimate
  while a context has few counts -> p1, kept per context as one of `NUM_BUCKETS` buckets;
* stage 2: counts for (bucket of p1, 4-neighbours that fired in the previous frame, 4-neighbours that
  fired earlier in this frame, sign(d3 - d2)), backed off towards the bucket's probability -> p2.

A frame is coded in two checkerboard phases, so the second phase sees all four neighbours of the first.
Counts are updated after every phase with one np.bincount; the per-context tables (bucket of p1, level
of p2) are recomputed from them, so a pixel costs a few gathers. Counts are float64 holding integers
(exact up to 2**53) and tables use only + and / (exactly rounded in IEEE 754) before truncation to
20-bit fixed point and integer lookup tables: encoder and decoder agree bit for bit on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PBITS = 20
PSCALE = 1 << PBITS
TAU_CAP = 64  # tau and ISIs are exact up to this many frames
UNKNOWN = TAU_CAP + 1  # no spike seen yet in this chunk
S = TAU_CAP + 2  # values 0..UNKNOWN
REL = 3  # d2 - d1 clipped to [-REL, REL], plus one value for "unknown"
NREL = 2 * REL + 2
K1 = 2.0  # pseudo-counts of stage 1 / stage 2 towards the stage below
K2 = 8.0
N_NB = 5  # 0..4 neighbours that fired in the previous frame
N_CUR = 6  # 0..4 neighbours that fired in this frame, 5 = not known yet (first phase)
N_SIDE = 3
MODEL_IDS = ("simple", "ctx")


def _geometric_edges(start: int, num: int, den: int) -> np.ndarray:
    """Integer edges growing by num/den from `start` up to 1/2, mirrored above 1/2 (logit-like spacing)."""
    low = [start]
    while low[-1] * num // den < PSCALE // 2:
        low.append(max(low[-1] + 1, low[-1] * num // den))
    low = np.array(low, dtype=np.int64)
    return np.concatenate([low, [PSCALE // 2], PSCALE - low[::-1]])


LEVEL_EDGES = _geometric_edges(4, 6, 5)  # ~0.18 in logit a level: quantization costs ~0.2 %
BUCKET_EDGES = _geometric_edges(16, 8, 5)
NUM_LEVELS = len(LEVEL_EDGES) + 1
NUM_BUCKETS = len(BUCKET_EDGES) + 1
N_C2 = NUM_BUCKETS * N_NB * N_CUR * N_SIDE
_LUT_CACHE: dict[str, np.ndarray] = {}


def _lut(name: str, edges: np.ndarray) -> np.ndarray:
    """Fixed-point probability (0..PSCALE) -> bin index, as one uint8 table."""
    if name not in _LUT_CACHE:
        _LUT_CACHE[name] = np.searchsorted(edges, np.arange(PSCALE + 1), side="right").astype(np.uint8)
    return _LUT_CACHE[name]


def representative(edges: np.ndarray) -> np.ndarray:
    """P(spike) each bin stands for: geometric mean of its edges, of p below 1/2 and of 1-p above
    (sqrt is exactly rounded in IEEE 754, so this is the same number everywhere)."""
    lo = np.concatenate([[1], edges]).astype(np.float64)
    hi = np.concatenate([edges, [PSCALE - 1]]).astype(np.float64)
    p = np.sqrt(lo * hi) / PSCALE
    return np.where(p > 0.5, 1.0 - np.sqrt((PSCALE - lo) * (PSCALE - hi)) / PSCALE, p)


def level_probabilities() -> np.ndarray:
    return representative(LEVEL_EDGES)


def _nb4(img: np.ndarray) -> np.ndarray:
    """Number of 4-neighbours that fired (zero outside the frame)."""
    n = np.zeros(img.shape, dtype=np.int32)
    n[1:] += img[:-1]
    n[:-1] += img[1:]
    n[:, 1:] += img[:, :-1]
    n[:, :-1] += img[:, 1:]
    return n


def _to_fixed(p: np.ndarray) -> np.ndarray:
    return (p * PSCALE).astype(np.int32)


@dataclass(frozen=True)
class ModelSpec:
    """Which model codes a chunk; stored in the archive header so a decoder can refuse what it lacks."""

    name: str = "ctx"

    def __post_init__(self):
        if self.name not in MODEL_IDS:
            raise ValueError(f"unknown model {self.name!r}; known: {', '.join(MODEL_IDS)}")


class ChunkModel:
    """The state both encoder and decoder keep while walking a chunk frame by frame, phase by phase."""

    def __init__(self, height: int, width: int, spec: ModelSpec):
        self.h, self.w, self.spec = height, width, spec
        self.simple = spec.name == "simple"
        n = height * width
        self.tau = np.full(n, UNKNOWN, dtype=np.uint8)
        self.d1 = np.full(n, UNKNOWN, dtype=np.uint8)
        self.d2 = np.full(n, UNKNOWN, dtype=np.uint8)
        self.d3 = np.full(n, UNKNOWN, dtype=np.uint8)
        self.frames_done = 0
        self.prev = np.zeros((height, width), dtype=np.uint8)
        self.level_lut = _lut("level", LEVEL_EDGES)
        self.bucket_lut = _lut("bucket", BUCKET_EDGES)
        self._prior2 = np.repeat(representative(BUCKET_EDGES), N_NB * N_CUR * N_SIDE)
        # counts: stage 1 contexts (stage 0 = their sums over d2), stage 2 contexts
        self.tot1, self.one1 = np.zeros(S * S * NREL), np.zeros(S * S * NREL)
        self.tot0, self.one0 = np.zeros(S * S), np.zeros(S * S)
        self.tot2, self.one2 = np.zeros(N_C2), np.zeros(N_C2)
        if self.simple:
            self.phases = [np.arange(n)]
        else:
            yy, xx = np.divmod(np.arange(n), width)
            parity = (yy + xx) % 2
            self.phases = [np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)]
        self._phase_updates = 0
        self._ctx_full: np.ndarray | None = None
        self._base_full: np.ndarray | None = None
        self._refresh_stage01()
        self._refresh_stage2()

    # -- tables from counts ------------------------------------------------------------------------
    def _refresh_stage01(self) -> None:
        p0 = (self.one0 + 0.5) / (self.tot0 + 1.0)
        if self.simple:
            self.table = self.level_lut[_to_fixed(p0)]
            return
        p1 = (self.one1 + K1 * np.repeat(p0, NREL)) / (self.tot1 + K1)
        self.bucket1 = self.bucket_lut[_to_fixed(p1)].astype(np.int32) * (N_NB * N_CUR * N_SIDE)

    def _refresh_stage2(self) -> None:
        if self.simple:
            return
        p2 = (self.one2 + K2 * self._prior2) / (self.tot2 + K2)
        self.table = self.level_lut[_to_fixed(p2)]

    # -- per frame / phase ---------------------------------------------------------------------------
    def begin_frame(self) -> None:
        """Contexts that depend only on past frames, for the whole frame at once."""
        d1 = self.d1.astype(np.int32)
        c0 = self.tau * np.int32(S) + d1
        if self.simple:
            self._ctx_full = c0
            return
        d2 = self.d2.astype(np.int32)
        rel = np.clip(d2 - d1, -REL, REL) + REL
        rel[self.d2 == UNKNOWN] = NREL - 1
        self._ctx_full = c0 * NREL + rel
        side = (self.d3 > self.d2).view(np.int8) - (self.d3 < self.d2).view(np.int8) + 1
        self._base_full = _nb4(self.prev).ravel() * (N_CUR * N_SIDE) + side

    def levels(self, phase: int, frame_so_far: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Probability level (uint8) of each pixel of `phase`; `frame_so_far` holds earlier phases' bits."""
        idx = self.phases[phase]
        c1 = self._ctx_full[idx]
        if self.simple:
            return self.table[c1], (c1,)
        cur = (N_CUR - 1) if phase == 0 else _nb4(frame_so_far).ravel()[idx]
        c2 = self.bucket1[c1] + self._base_full[idx] + cur * N_SIDE
        return self.table[c2], (c1, c2)

    def update_phase(self, ctxs: tuple, bits: np.ndarray) -> None:
        """Add the phase's bits to the counts and refresh the tables (stage 1: every phase while the
        chunk is young, then once a frame; it moves slowly once counts are large)."""
        c1 = ctxs[0]
        d = np.bincount(c1 * 2 + bits, minlength=2 * self.tot1.size if not self.simple else 2 * S * S)
        one, tot = d[1::2], d[0::2] + d[1::2]
        if self.simple:
            self.one0 += one
            self.tot0 += tot
            self._refresh_stage01()
            return
        self.one1 += one
        self.tot1 += tot
        self.one0 += one.reshape(S * S, NREL).sum(axis=1)
        self.tot0 += tot.reshape(S * S, NREL).sum(axis=1)
        d = np.bincount(ctxs[1] * 2 + bits, minlength=2 * N_C2)
        self.one2 += d[1::2]
        self.tot2 += d[0::2] + d[1::2]
        self._refresh_stage2()
        self._phase_updates += 1
        if self.frames_done < 16 or self._phase_updates % len(self.phases) == 0:
            self._refresh_stage01()

    def end_frame(self, frame: np.ndarray) -> None:
        """Advance tau and the ISIs with the frame just coded (in place, touching only pixels that fired)."""
        fired = np.flatnonzero(frame.ravel())
        self.d3[fired] = self.d2[fired]
        self.d2[fired] = self.d1[fired]
        self.d1[fired] = self.tau[fired]
        self.tau += self.tau < TAU_CAP
        self.tau[fired] = 1
        self.prev = frame
        self.frames_done += 1
