"""Context models for the next bit of every spike pixel, deterministic on every machine.

An integrate-and-fire pixel fires again roughly one inter-spike interval (ISI) after its last spike,
so the best single clue is (tau = frames since the last spike, d1 = last ISI). The "simple" model codes
with that context alone. The "ctx" model refines it in two stages:

* stage 1: counts for (tau, d1, d2 - d1 clipped to +-3, the 3x3 neighbours' mean last ISI minus d1 in
  quarter frames), backed off towards the (tau, d1) estimate while a context has few counts -> p1;
* stage 2: counts for (bucket of p1, 4-neighbours that fired in the previous frame, 4-neighbours that
  fired earlier in this frame, sign(d3 - d2), sign(d4 - d3)), backed off towards p1 -> p2.

Model version 2 (format 2) differs only where a pixel has no ISI of its own yet in the chunk: a pixel
that has not fired has d1 = 0 (no ISI takes that value) and tau counting frames from the chunk's
start (so the counts learn how the chance of a first spike grows with waiting), and a pixel without a
known ISI gets the neighbours' mean last ISI, binned, as its neighbour context instead of "unknown".
A chunk restarts every pixel's history; these contexts win back a third to a quarter of that cost.

A frame is coded in two checkerboard phases, so the second phase sees all four neighbours of the first.
Counts are float32 holding whole numbers (exact to 2**24, then saturating the same way everywhere),
updated after every phase in pixel order; probabilities use only + and / (exactly rounded in IEEE 754)
before truncation to 20-bit fixed point and integer lookup tables: encoder and decoder agree bit for
bit on every machine.
"""

from __future__ import annotations

import numpy as np

from spikesci.lossless.spec import ModelSpec  # noqa: F401  (re-exported: ModelSpec lived here)

PBITS = 20
PSCALE = 1 << PBITS
TAU_CAP = 64  # tau and ISIs are exact up to this many frames
UNKNOWN = TAU_CAP + 1  # no spike seen yet in this chunk
S = TAU_CAP + 2  # values 0..UNKNOWN
REL = 3  # d2 - d1 clipped to [-REL, REL], plus one value for "unknown"
NREL = 2 * REL + 2
K1 = 2.0  # pseudo-counts of stage 1 / stage 2 towards the stage below
K2 = 8.0
NQ = 18  # neighbours' mean last ISI minus own, in quarter frames, clipped to +-2 frames; 17 = unknown
QMAX = 8
N_NB = 5  # 0..4 neighbours that fired in the previous frame
N_CUR = 6  # 0..4 neighbours that fired in this frame, 5 = not known yet (first phase)
N_SIDE = 9  # sign(d3 - d2), sign(d4 - d3)
_ONE = np.float32(1.0)  # float32 counts: exact to 2**24, then they saturate (the same way everywhere)
_SATURATED = 2.0**24
_KD_KNOWN = 1024  # see ChunkModel._kd_img


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
N_C1 = S * S * NREL * NQ
N_C2 = NUM_BUCKETS * N_NB * N_CUR * N_SIDE
_LUT_CACHE: dict[str, np.ndarray] = {}


def _lut(name: str, edges: np.ndarray) -> np.ndarray:
    """Fixed-point probability (0..PSCALE) -> bin index, as one uint8 table."""
    if name not in _LUT_CACHE:  # = searchsorted(edges, arange(PSCALE + 1), "right"), 20x faster to build
        runs = np.diff(np.concatenate([[0], edges, [PSCALE + 1]]))
        _LUT_CACHE[name] = np.repeat(np.arange(len(edges) + 1, dtype=np.uint8), runs)
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
    """Number of 4-neighbours that fired (zero outside the frame), uint8: scale with np.int32 constants."""
    n = np.zeros(img.shape, dtype=np.uint8)
    n[1:] += img[:-1]
    n[:-1] += img[1:]
    n[:, 1:] += img[:, :-1]
    n[:, :-1] += img[:, 1:]
    return n


def _box3(img: np.ndarray) -> np.ndarray:
    """3x3 box sum (zero outside the frame), separable, in uint16 (the sums here stay below 2**14)."""
    r = img.astype(np.uint16)
    r[:, 1:] += img[:, :-1]
    r[:, :-1] += img[:, 1:]
    out = r.copy()
    out[1:] += r[:-1]
    out[:-1] += r[1:]
    return out


def _q_table() -> tuple[np.ndarray, int, int]:
    """q = round(4 * (neighbours' mean ISI - own ISI)) clipped, from k (known pixels in the 3x3 box, own
    included) and diff = box sum - k * own ISI, as one integer table (row 10: own ISI unknown)."""
    off = 9 * S
    diff = np.arange(-off, off + 1)
    k = np.arange(11)[:, None]
    q = np.clip((8 * diff + k) // np.maximum(2 * k, 1), -QMAX, QMAX) + QMAX
    q[0] = q[10] = NQ - 1
    return q.astype(np.int32).ravel(), 2 * off + 1, off


_Q_LUT, _Q_WIDTH, _Q_OFF = _q_table()
# version 2, a pixel without a known ISI of its own: the neighbours' mean last ISI, in quarter frames,
# binned (no known neighbour: NQ - 1), from k (known neighbours, 0..9) and their sum, as one table
_ABS_EDGES = np.array([6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80, 96, 128])
_ABS_WIDTH = 9 * S + 1
_kk, _tt = np.divmod(np.arange(10 * _ABS_WIDTH), _ABS_WIDTH)
_Q_ABS = np.where(
    _kk == 0, NQ - 1, np.searchsorted(_ABS_EDGES, (4 * _tt + _kk // 2) // np.maximum(_kk, 1), side="right")
).astype(np.int32)


def _pair_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel contexts from two packed ISIs (low byte the newer, a, high byte the older, b):
    rel * NQ from (d1, d2), and sign(b - a) + 1, for the side context, from (d2, d3) and (d3, d4)."""
    a, b = np.divmod(np.arange(1 << 16), 256)[::-1]
    rel = np.where(b == UNKNOWN, NREL - 1, np.clip(b - a, -REL, REL) + REL) * NQ
    return rel.astype(np.int32), (np.sign(b - a) + 1).astype(np.int32)


_REL_LUT, _SIGN_LUT = _pair_tables()


def _to_fixed(p: np.ndarray) -> np.ndarray:
    return (p * PSCALE).astype(np.int32)


def _prob(table: np.ndarray, ctx: np.ndarray, prior: np.ndarray | float, weight: float) -> np.ndarray:
    """(ones + weight * prior) / (zeros + ones + weight); context c's float32 (zeros, ones) sit at 2c, 2c+1
    and are fetched together as one 64-bit word."""
    pairs = np.take(table.view(np.uint64), ctx).view(np.float32)
    n1 = pairs[1::2]
    return (n1 + weight * prior) / (pairs[0::2] + n1 + weight)


class _Layout:
    """Pixels reordered phase by phase (each phase in raster order), so a phase is a slice, not a gather."""

    _cache: dict[tuple, _Layout] = {}

    def __init__(self, height: int, width: int, simple: bool):
        n = height * width
        if simple:
            self.perm = np.arange(n)
            self.bounds = [0, n]
        else:
            yy, xx = np.divmod(np.arange(n), width)
            parity = (yy + xx) % 2
            self.perm = np.concatenate([np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)])
            self.bounds = [0, int(n - np.count_nonzero(parity)), n]
        self.slices = [slice(a, b) for a, b in zip(self.bounds[:-1], self.bounds[1:])]
        self.perm1 = self.perm[self.slices[-1]]

    @classmethod
    def get(cls, height: int, width: int, simple: bool) -> _Layout:
        key = (height, width, simple)
        if key not in cls._cache:
            cls._cache[key] = cls(height, width, simple)
        return cls._cache[key]


class ChunkModel:
    """The state both encoder and decoder keep while walking a chunk frame by frame, phase by phase.

    Per-pixel arrays are in phase order (`layout.perm`); the parts of a pixel's contexts that depend
    only on its own last ISIs change only when it fires, so they are kept and updated for the pixels
    that fired, and a frame costs a few whole-array passes (tau, neighbours) plus the table lookups.
    """

    def __init__(self, height: int, width: int, spec: ModelSpec):
        self.h, self.w, self.spec = height, width, spec
        self.simple = spec.name == "simple"
        n = height * width
        self.layout = _Layout.get(height, width, self.simple)
        self.phases = self.layout.slices
        self.tau = np.full(n, UNKNOWN, dtype=np.uint8)
        # last four ISIs packed in one little-endian word per pixel, newest in the low byte
        self._dword = np.full(n, UNKNOWN * 0x01010101, dtype="<u4")
        self.prev = np.zeros((height, width), dtype=np.uint8)
        self.level_lut = _lut("level", LEVEL_EDGES)
        self.bucket_lut = _lut("bucket", BUCKET_EDGES)
        self.t0 = np.zeros(2 * S * S, dtype=np.float32)
        self._d1 = np.full(n, UNKNOWN, dtype=np.int32)  # last ISI (phase order)
        if not self.simple:
            self.t1 = np.zeros(2 * N_C1, dtype=np.float32)
            self.t2 = np.zeros(2 * N_C2, dtype=np.float32)
            self._rel = np.full(n, (NREL - 1) * NQ, dtype=np.int32)  # rel * NQ
            self._side = np.full(n, 4, dtype=np.int32)  # sign(d3-d2)*3 + sign(d4-d3) + 4
            # image-order copies for the 3x3 neighbourhood: 1024 * known + last ISI where known (else
            # 0), so one box sum gives both how many neighbours are known and their ISIs' sum; last ISI
            self._kd_img = np.zeros(n, dtype=np.uint16)
            self._d1_img = np.full(n, UNKNOWN, dtype=np.int32)
        self.v2 = spec.version >= 2
        if self.v2:  # not fired yet in this chunk: d1 = 0 (no ISI is 0) and tau counts frames from its start
            self.tau[:] = 0
            self._dword[:] = UNKNOWN * 0x01010100
            self._d1[:] = 0
            if not self.simple:
                self._d1_img[:] = 0
        self._c0: np.ndarray | None = None
        self._c1: np.ndarray | None = None
        self._base: np.ndarray | None = None
        self._refresh0()

    def begin_frame(self) -> None:
        """Contexts that depend only on past frames, for the whole frame at once."""
        self._c0 = self.tau * np.int32(S) + self._d1
        if self.simple:
            return
        h, w, perm = self.h, self.w, self.layout.perm
        box = _box3(self._kd_img.reshape(h, w)).ravel()
        k = (box >> np.uint16(10)).astype(np.int32)
        total = box & np.uint16(_KD_KNOWN - 1)
        unknown = self._kd_img < _KD_KNOWN
        if self.v2:
            q_abs = np.take(_Q_ABS, k * _ABS_WIDTH + total)
        k[unknown] = 10  # the table's row for "own ISI unknown"
        q = np.take(_Q_LUT, k * _Q_WIDTH + (total - self._d1_img * k + _Q_OFF))
        if self.v2:
            q = np.where(unknown, q_abs, q)
        self._c1 = self._c0 * np.int32(NREL * NQ) + self._rel + np.take(q, perm)
        self._base = np.take(_nb4(self.prev).ravel(), perm) * np.int32(N_CUR * N_SIDE) + self._side

    def levels(self, phase: int, frame_so_far: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Probability level (uint8) of each pixel of `phase` (in phase order); `frame_so_far` (H, W)
        holds the bits of earlier phases."""
        sl = self.phases[phase]
        c0 = self._c0[sl]
        if self.simple:
            return np.take(self._level0, c0), (c0,)
        c1 = self._c1[sl]
        pairs = np.take(self.t1.view(np.uint64), c1).view(np.float32)  # = _prob(t1, c1, p0[c0], K1)
        n1 = pairs[1::2]
        p1 = (n1 + np.take(self._k1p0, c0)) / (pairs[0::2] + n1 + K1)
        bucket = np.take(self.bucket_lut, _to_fixed(p1)).astype(np.int32)
        c2 = bucket * np.int32(N_NB * N_CUR * N_SIDE) + self._base[sl]
        if phase == 0:
            c2 += np.int32((N_CUR - 1) * N_SIDE)
        else:
            c2 += np.take(_nb4(frame_so_far).ravel(), self.layout.perm1) * np.int32(N_SIDE)
        p2 = _prob(self.t2, c2, p1, K2)
        return np.take(self.level_lut, _to_fixed(p2)), (c0, c1, c2)

    def update_phase(self, ctxs: tuple, bits: np.ndarray) -> None:
        """Count the phase's bits in every stage (np.add.at applies them in order: deterministic)."""
        # stages 0 and 2 are small: one bincount each; adding counts then saturating at 2**24 is what
        # adding ones one at a time in float32 does (x + 1 == x from 2**24 on)
        counts = np.bincount(ctxs[0] * 2 + bits, minlength=self.t0.size)
        self.t0[:] = np.minimum(self.t0 + counts, _SATURATED)
        if not self.simple:
            np.add.at(self.t1, ctxs[1] * 2 + bits, _ONE)  # large and sparse: only where pixels are
            counts = np.bincount(ctxs[2] * 2 + bits, minlength=self.t2.size)
            self.t2[:] = np.minimum(self.t2 + counts, _SATURATED)
        self._refresh0()

    def _refresh0(self) -> None:
        """Stage 0 is small (tau, d1): keep its probabilities as a table."""
        n1 = self.t0[1::2]
        self._p0 = (n1 + 0.5) / (self.t0[0::2] + n1 + 1.0)
        self._k1p0 = K1 * self._p0  # the same float32 products _prob would form pixel by pixel
        if self.simple:
            self._level0 = self.level_lut[_to_fixed(self._p0)]

    def end_frame(self, frame: np.ndarray, bits: np.ndarray) -> None:
        """Advance tau and the ISIs with the frame just coded: `frame` (H, W), `bits` the same in phase
        order; only the pixels that fired get new per-pixel contexts."""
        fired = np.flatnonzero(bits)
        old = np.take(self._dword, fired)
        word = (old << np.uint32(8)) | np.take(self.tau, fired)
        if self.v2:  # a first spike: the ISI before it is unknown (tau counted from the chunk's start)
            word = np.where(old & np.uint32(0xFF) == 0, np.uint32(UNKNOWN * 0x01010101), word)
        self._dword[fired] = word
        self.tau += self.tau < TAU_CAP
        self.tau[fired] = 1
        self.prev = frame
        d1 = (word & np.uint32(0xFF)).astype(np.int32)
        self._d1[fired] = d1
        if self.simple:
            return
        low16 = word & np.uint32(0xFFFF)  # (d1, d2): the rel context
        self._rel[fired] = np.take(_REL_LUT, low16)
        s23 = np.take(_SIGN_LUT, (word >> np.uint32(8)) & np.uint32(0xFFFF))  # sign(d3 - d2) + 1
        self._side[fired] = s23 * np.int32(3) + np.take(_SIGN_LUT, word >> np.uint32(16))
        pix = np.take(self.layout.perm, fired)
        known = d1 != UNKNOWN
        self._kd_img[pix] = np.where(known, d1 + _KD_KNOWN, 0)
        self._d1_img[pix] = d1
