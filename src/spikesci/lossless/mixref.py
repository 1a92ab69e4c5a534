"""The "mix" model (model version 3) in plain Python: the specification of `_mixkernel.h`.

The compiled coder (`_mixcoder`, built at install) is what packs and unpacks; this module is the same
integer algorithm line for line, so that (1) an archive stays readable on a machine where the C
extension could not be built (slowly: a few microseconds a spike-pixel), and (2) the tests can hold
the compiled coder to the specification on small clips. Python's `>>` floors, as the arithmetic shift
of the C code does, so every intermediate value is the same.
"""

from __future__ import annotations

NQ, ND, NREL, NDD, NPH, NIN = 49, 50, 21, 8, 14, 2
NNB = NREL + 14
LIMIT, MIX_LR, W_INIT = 255, 24, 32768
NNBK = 6
NB_BUCKET = [5 if v >= NREL else 0 if v < 7 else 1 if v < 10 else 2 if v == 10 else 3 if v < 14 else 4
             for v in range(NNB)]
_SQUASH_PTS = (1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994,
               3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095)


def squash(d: int) -> int:
    """4096 / (1 + exp(-d / 256)), interpolated between 33 integer points."""
    d = max(-2047, min(2047, d))
    w, i = d & 127, (d >> 7) + 16
    return (_SQUASH_PTS[i] * (128 - w) + _SQUASH_PTS[i + 1] * w + 64) >> 7


def _quantise(v: int) -> int:
    if v < 24:
        return v
    if v < 88:
        return 24 + (v - 24) // 4
    if v < 344:
        return 40 + (v - 88) // 32
    return 48


QTAB = [_quantise(v) for v in range(1024)]
REC = [65536 // (n + 2) for n in range(LIMIT + 1)]
INV = [0] + [(65536 + n - 1) // n for n in range(1, 5)]


def _stretch_table() -> list[int]:
    table = [2047] * 4096
    pi = 0
    for d in range(-2047, 2048):
        v = squash(d)
        for j in range(pi, v + 1):
            table[j] = d
        pi = v + 1
    return table


STRETCH = _stretch_table()


def qv(v: int) -> int:
    return QTAB[min(v, 1023)]


def _clip(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


class _Model:
    """Per-pixel history, the two context tables and the mixer weights of one band of one chunk."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.last = [-1] * (h * w)
        self.d1 = [0] * ((h + 2) * (w + 2))  # zero border: neighbours outside the band are unknown
        self.d2 = [0] * (h * w)
        self.tables = [[32768] * (NQ * ND * NNB), [32768] * (NPH * 32 * 5 * NDD)]  # rate, phase
        self.wts = [W_INIT] * (NPH * NDD * NNBK * NIN)

    def predict(self, cur, prev, t: int, y: int, x: int):
        """(p16, state for update) for pixel (y, x) of frame t; `cur` holds this frame so far."""
        w, w2 = self.w, self.w + 2
        i, qi = y * w + x, (y + 1) * w2 + x + 1
        q = self.d1
        last, d1, d2 = self.last[i], q[qi], self.d2[i]
        tau = t + 1 if last < 0 else t - last
        qt = qv(tau)
        qd = 0 if last < 0 else (1 if d1 == 0 else 1 + qv(d1))
        nbrs = (q[qi - w2], q[qi - 1], q[qi + 1], q[qi + w2])
        nsum = sum(nbrs)
        nc = sum(1 for v in nbrs if v)
        if d1 and nc:
            nb = _clip(((nsum * INV[nc]) >> 14) - 4 * d1, -10, 10) + 10
        else:
            nb = NREL + 1 + (qv((nsum * INV[nc]) >> 16) >> 2) if nc else NREL
        dd = ph = 0
        if d1:
            ph = _clip(tau - d1, -6, 6) + 7
            if d2:
                dd = _clip(d2 - d1, -3, 3) + 4
        cn = 0
        if x > 0:
            cn |= cur[i - 1]
        if y > 0:
            if x > 0:
                cn |= cur[i - w - 1] << 1
            cn |= cur[i - w] << 2
            if x + 1 < w:
                cn |= cur[i - w + 1] << 3
        pn = 0
        if prev is not None:
            cn |= prev[i] << 4
            pn = ((prev[i - 1] if x > 0 else 0) + (prev[i + 1] if x + 1 < w else 0)
                  + (prev[i - w] if y > 0 else 0) + (prev[i + w] if y + 1 < self.h else 0))
        idx = ((qt * ND + qd) * NNB + nb, ((ph * 32 + cn) * 5 + pn) * NDD + dd)
        s = [STRETCH[(tab[j] & 0xFFFF) >> 4] for tab, j in zip(self.tables, idx)]
        wbase = ((ph * NDD + dd) * NNBK + NB_BUCKET[nb]) * NIN
        dot = sum(self.wts[wbase + k] * s[k] for k in range(NIN))
        p12 = squash(_clip(dot >> 16, -2047, 2047))
        return _clip(p12 * 16, 16, 65520), (idx, s, wbase, p12)

    def update(self, state, t: int, y: int, x: int, bit: int) -> None:
        idx, s, wbase, p12 = state
        target = 65535 if bit else 0
        for tab, j in zip(self.tables, idx):
            c = tab[j]
            p, n = c & 0xFFFF, c >> 16
            p += ((target - p) * REC[n]) >> 16
            tab[j] = p | ((n + (n < LIMIT)) << 16)
        err = ((bit << 12) - p12) * MIX_LR
        for k in range(NIN):
            self.wts[wbase + k] += (s[k] * err) >> 16
        if bit:
            i = y * self.w + x
            last = self.last[i]
            if last >= 0:
                qi = (y + 1) * (self.w + 2) + x + 1
                self.d2[i] = self.d1[qi]
                self.d1[qi] = min(t - last, 65535)
            self.last[i] = t


class _Encoder:
    """Binary range coder: 32-bit range, carries resolved through one cached byte and a run of 0xFF."""

    def __init__(self):
        self.low, self.range, self.cache, self.pending = 0, 0xFFFFFFFF, 0, 1
        self.out = bytearray()

    def _shift(self) -> None:
        if (self.low & 0xFFFFFFFF) < 0xFF000000 or self.low >> 32:
            carry, b = self.low >> 32, self.cache
            while True:
                self.out.append((b + carry) & 0xFF)
                b = 0xFF
                self.pending -= 1
                if not self.pending:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.pending += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def bit(self, bit: int, p16: int) -> None:
        bound = (self.range >> 16) * p16
        if bit:
            self.range = bound
        else:
            self.low += bound
            self.range -= bound
        while self.range < 1 << 24:
            self.range = (self.range << 8) & 0xFFFFFFFF
            self._shift()

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift()
        return bytes(self.out)


class _Decoder:
    def __init__(self, data: bytes):
        self.data, self.pos, self.range, self.code = data, 0, 0xFFFFFFFF, 0
        for _ in range(5):
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFF

    def _byte(self) -> int:
        if self.pos < len(self.data):
            self.pos += 1
            return self.data[self.pos - 1]
        return 0

    def bit(self, p16: int) -> int:
        bound = (self.range >> 16) * p16
        if self.code < bound:
            self.range, bit = bound, 1
        else:
            self.code -= bound
            self.range -= bound
            bit = 0
        while self.range < 1 << 24:
            self.range = (self.range << 8) & 0xFFFFFFFF
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFF
        return bit


def encode(bits: bytes, frames: int, h: int, w: int) -> bytes:
    """Same contract as `_mixcoder.encode`: frames x h x w bytes of 0/1 -> the stream."""
    model, enc, n = _Model(h, w), _Encoder(), h * w
    for t in range(frames):
        cur = bits[t * n : (t + 1) * n]
        prev = bits[(t - 1) * n : t * n] if t else None
        for y in range(h):
            for x in range(w):
                bit = 1 if cur[y * w + x] else 0
                p, state = model.predict(cur, prev, t, y, x)
                enc.bit(bit, p)
                model.update(state, t, y, x, bit)
    return enc.finish()


def decode(data: bytes, frames: int, h: int, w: int, out) -> None:
    """Same contract as `_mixcoder.decode`: fill `out` (a writable buffer of frames x h x w bytes)."""
    model, dec, n = _Model(h, w), _Decoder(bytes(data)), h * w
    view = memoryview(out).cast("B")
    prev = None
    for t in range(frames):
        cur = bytearray(n)
        for y in range(h):
            for x in range(w):
                p, state = model.predict(cur, prev, t, y, x)
                bit = dec.bit(p)
                cur[y * w + x] = bit
                model.update(state, t, y, x, bit)
        view[t * n : (t + 1) * n] = cur
        prev = cur
