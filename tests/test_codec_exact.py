"""The exact (dyadic) layers: float64 results equal integer arithmetic, whatever the summation order."""

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.models.codec.entropy import SUPPORT, Tables, build_tables, table_index
from spikesci.models.codec.exact import ACT_BITS, QConv, quant_act, quant_flow, warp


def _grid(shape, seed=0, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    return quant_act(torch.randn(*shape, generator=g, dtype=torch.float64) * scale)


def test_qconv_float64_equals_integer_arithmetic():
    torch.manual_seed(0)
    conv = QConv(6, 5, 3)
    x = _grid((2, 6, 9, 11))
    y = conv(x)
    k, b, a = conv.w_int.long(), conv.b_int.long(), conv.w_exp.long()
    m = torch.round(x * 2**ACT_BITS).long()
    cols = F.unfold(m.double(), 3, padding=1).long()  # integers, exact
    acc = torch.einsum("ok,bkl->bol", k.view(5, -1), cols) + b.view(1, -1, 1)  # int64 sums, units 2^-(a+10)
    ref = acc.double() * torch.pow(2.0, -(a + ACT_BITS).double()).view(1, -1, 1)
    ref = quant_act(ref.view(2, 5, 9, 11))
    assert torch.equal(y, ref)


def test_qconv_independent_of_channel_order():
    torch.manual_seed(1)
    conv = QConv(8, 4, 3)
    x = _grid((1, 8, 12, 12), seed=3)
    y = conv(x)
    conv.freeze()
    perm = torch.randperm(8)
    w = conv.w64[:, perm]
    y2 = quant_act(F.conv2d(x[:, perm], w, conv.b64, 1, 1))
    halves = F.conv2d(x[:, perm[:4]], w[:, :4], None, 1, 1)
    halves = halves + F.conv2d(x[:, perm[4:]], w[:, 4:], conv.b64, 1, 1)
    assert torch.equal(y, y2)
    assert torch.equal(y, quant_act(halves))


def test_fake_quant_matches_exact_path():
    torch.manual_seed(2)
    conv = QConv(4, 4, 3)
    x = _grid((1, 4, 10, 10), seed=5, scale=1.0)
    y32 = conv(x.float())
    y64 = conv(x)
    assert (y32.double() - y64).abs().max() < 2e-3


def test_warp_exact_and_quarter_pixel():
    x = _grid((1, 3, 8, 9), seed=7)
    g = torch.Generator().manual_seed(8)
    flow = quant_flow(torch.randn(1, 2, 8, 9, generator=g, dtype=torch.float64) * 2)
    assert torch.equal(flow * 4, torch.round(flow * 4))
    out = warp(x, flow)
    scaled = out * 2 ** (ACT_BITS + 4)  # bilinear weights are multiples of 1/16
    assert torch.equal(scaled, torch.round(scaled))
    assert torch.equal(warp(x, torch.zeros_like(flow)), x)
    shifted = warp(x, torch.ones_like(flow))
    assert torch.equal(shifted[..., :-1, :-1], x[..., 1:, 1:])


def test_tables_round_trip_and_index():
    import constriction

    tables = Tables(build_tables())
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 52, size=500)
    sym = np.clip(np.round(rng.normal(0, np.exp(-2.25 + idx / 8))), -SUPPORT, SUPPORT).astype(np.int64)
    enc = constriction.stream.queue.RangeEncoder()
    tables.encode(enc, sym, idx)
    words = enc.get_compressed()
    dec = constriction.stream.queue.RangeDecoder(words)
    assert np.array_equal(tables.decode(dec, idx), sym)
    assert abs(words.size * 32 - tables.estimate_bits(sym, idx)) < 64 + 0.01 * tables.estimate_bits(sym, idx)
    assert table_index(np.array([-9.0, 0.0, 99.0]), np.array(0.0)).tolist() == [0, 18, 51]
