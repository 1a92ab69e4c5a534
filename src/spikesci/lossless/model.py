"""Context models for the next bit of every spike pixel, in integer arithmetic only.

An integrate-and-fire pixel fires again roughly one inter-spike interval (ISI) after its last spike,
so the best single clue is (frames since the last spike, last ISI). On top of that ("ctx" model):

* stage 0: counts for (tau, d1)                         -> p0  (the "simple" ISI model stops here)
* stage 1: counts for (tau, d1, d2 - d1 clipped)         -> p1, backed off towards p0 while counts are few
* stage 2: secondary estimation on (bucket of p1, 4-neighbours that fired in the previous frame,
  4-neighbours that fired in this frame's first phase, sign(d3 - d2)) -> p2, backed off towards p1.

A frame is coded in two checkerboard phases, so the second phase sees the first one's spikes, and counts
are updated after every phase (np.bincount over the whole phase). Probabilities are 20-bit fixed-point
integers computed from integer counts with integer division, then mapped through an integer lookup table
to one of `NUM_LEVELS` fixed probabilities: encoder and decoder agree bit for bit on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PBITS = 20
PSCALE = 1 << PBITS
TAU_CAP = 64  # tau and ISIs are exact up to this many frames
UNKNOWN = TAU_CAP + 1  # no spike seen yet in this chunk
S = TAU_CAP + 2
REL = 3  # d2 - d1 clipped to [-REL, REL], plus one value for "unknown"
NREL = 2 * REL + 2
K1 = 2  # back-off weights (pseudo-counts) of stage 1 and stage 2 towards the stage below
K2 = 8
MODEL_IDS = ("simple", "ctx")


def _geometric_edges(start: int, num: int, den: int) -> np.ndarray:
    """Integer edges growing by num/den from `start` up to 1/2, mirrored above 1/2 (logit-like spacing)."""
    low = [start]
    while low[-1] * num // den < PSCALE // 2:
        low.append(max(low[-1] + 1, low[-1] * num // den))
    low = np.array(low, dtype=np.int64)
    return np.concatenate([low, [PSCALE // 2], PSCALE - low[::-1]])


LEVEL_EDGES = _geometric_edges(4, 6, 5)  # ~ 0.18 nats a level: coding loss well under 0.5 %
BUCKET_EDGES = _geometric_edges(16, 8, 5)
NUM_LEVELS = len(LEVEL_EDGES) + 1
NUM_BUCKETS = len(BUCKET_EDGES) + 1
_LUT_CACHE: dict[str, np.ndarray] = {}


def _lut(name: str, edges: np.ndarray) -> np.ndarray:
    if name not in _LUT_CACHE:
        _LUT_CACHE[name] = np.searchsorted(edges, np.arange(PSCALE + 1), side="right").astype(np.uint8)
    return _LUT_CACHE[name]


def level_probabilities() -> np.ndarray:
    """P(spike) each level stands for: the geometric mean of its edges (sqrt is exactly rounded in IEEE)."""
    lo = np.concatenate([[1], LEVEL_EDGES]).astype(np.float64)
    hi = np.concatenate([LEVEL_EDGES, [PSCALE - 1]]).astype(np.float64)
    p = np.sqrt(lo * hi) / PSCALE
    return np.where(p > 0.5, 1.0 - np.sqrt((PSCALE - lo) * (PSCALE - hi)) / PSCALE, p)


def _nb4(img: np.ndarray) -> np.ndarray:
    """Number of 4-neighbours that fired (zero outside the frame), as int64."""
    n = np.zeros(img.shape, dtype=np.int64)
    n[1:] += img[:-1]
    n[:-1] += img[1:]
    n[:, 1:] += img[:, :-1]
    n[:, :-1] += img[:, 1:]
    return n


class _Counts:
    """Adaptive (total, ones) counts per context, updated once per phase."""

    def __init__(self, size: int):
        self.n = np.zeros(size, dtype=np.int64)
        self.n1 = np.zeros(size, dtype=np.int64)
        self.size = size

    def update(self, ctx: np.ndarray, bits: np.ndarray) -> None:
        self.n += np.bincount(ctx, minlength=self.size)
        self.n1 += np.bincount(ctx[bits.astype(bool)], minlength=self.size)


@dataclass(frozen=True)
class ModelSpec:
    """Which model codes a chunk; stored in the archive header so a decoder can refuse what it lacks."""

    name: str = "ctx"

    def __post_init__(self):
        if self.name not in MODEL_IDS:
            raise ValueError(f"unknown model {self.name!r}; known: {', '.join(MODEL_IDS)}")


class ChunkModel:
    """The state both encoder and decoder keep while walking a chunk frame by frame."""

    def __init__(self, height: int, width: int, spec: ModelSpec):
        self.h, self.w, self.spec = height, width, spec
        n = height * width
        self.tau = np.full(n, UNKNOWN, dtype=np.int64)
        self.d1 = np.full(n, UNKNOWN, dtype=np.int64)
        self.d2 = np.full(n, UNKNOWN, dtype=np.int64)
        self.d3 = np.full(n, UNKNOWN, dtype=np.int64)
        self.prev = np.zeros((height, width), dtype=np.uint8)
        self.c0 = _Counts(S * S)
        self.c1 = _Counts(S * S * NREL)
        self.c2 = _Counts(NUM_BUCKETS * 5 * 6 * 3)
        self.level_lut = _lut("level", LEVEL_EDGES)
        self.bucket_lut = _lut("bucket", BUCKET_EDGES)
        if spec.name == "simple":
            self.phases = [np.arange(n)]
        else:
            yy, xx = np.divmod(np.arange(n), width)
            parity = (yy + xx) % 2
            self.phases = [np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)]
        self._frame_ctx: dict = {}

    def begin_frame(self) -> None:
        """Contexts that depend only on the past frames, for the whole frame at once."""
        c0 = self.tau * S + self.d1
        if self.spec.name == "simple":
            self._frame_ctx = {"c0": c0}
            return
        rel = np.where(self.d2 == UNKNOWN, NREL - 1, np.clip(self.d2 - self.d1, -REL, REL) + REL)
        c1 = c0 * NREL + rel
        side = np.sign(self.d3 - self.d2) + 1
        nbp = _nb4(self.prev).ravel()
        self._frame_ctx = {"c0": c0, "c1": c1, "c2base": nbp * 18 + side}

    def levels(self, phase: int, frame_so_far: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Probability level of each pixel of `phase`; `frame_so_far` holds the earlier phases' bits."""
        idx = self.phases[phase]
        fc = self._frame_ctx
        c0 = fc["c0"][idx]
        p0 = ((2 * self.c0.n1[c0] + 1) << PBITS) // (2 * self.c0.n[c0] + 2)
        if self.spec.name == "simple":
            return self.level_lut[p0], (c0,)
        c1 = fc["c1"][idx]
        p1 = ((self.c1.n1[c1] << PBITS) + K1 * p0) // (self.c1.n[c1] + K1)
        cur = 5 if phase == 0 else _nb4(frame_so_far).ravel()[idx]
        c2 = self.bucket_lut[p1].astype(np.int64) * 90 + cur * 3 + fc["c2base"][idx]
        p2 = ((self.c2.n1[c2] << PBITS) + K2 * p1) // (self.c2.n[c2] + K2)
        return self.level_lut[p2], (c0, c1, c2)

    def update_phase(self, ctxs: tuple, bits: np.ndarray) -> None:
        for counts, ctx in zip((self.c0, self.c1, self.c2), ctxs):
            counts.update(ctx, bits)

    def end_frame(self, frame: np.ndarray) -> None:
        """Advance tau and the ISIs with the frame just coded."""
        fired = frame.ravel().astype(bool)
        self.d3 = np.where(fired, self.d2, self.d3)
        self.d2 = np.where(fired, self.d1, self.d2)
        self.d1 = np.where(fired, self.tau, self.d1)
        self.tau = np.where(fired, 1, np.where(self.tau >= TAU_CAP, self.tau, self.tau + 1))
        self.prev = frame
