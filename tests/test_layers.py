"""Building blocks of the perception networks: binarization, attention, fusion, warping, deformable conv."""

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.models.layers import (
    BinaryTemporalBank,
    DeformConv2d,
    PathwayFusionUnit,
    ScaleAttention,
    binarize,
    compose_flows,
    deform_conv2d,
    invert_flow,
    warp,
)


def test_binarize_is_sign_times_mean_abs_with_straight_through_gradient():
    w = torch.tensor([[0.5, -2.0, 0.0, -0.25]], requires_grad=True)
    b = binarize(w)
    alpha = (0.5 + 2.0 + 0.0 + 0.25) / 4
    assert torch.allclose(b, alpha * torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
    (b * torch.tensor([[1.0, 2.0, 3.0, 4.0]])).sum().backward()
    g = w.grad[0]
    assert g[0] != 0 and g[2] != 0 and g[3] != 0  # |w| <= 1: the gradient passes straight through
    assert torch.isfinite(g).all()


def test_temporal_bank_reads_only_its_frames_and_has_binary_taps():
    bank = BinaryTemporalBank([(3, 4), (0, 2)], out_channels=2)
    x = (torch.rand(2, 10, 6, 6) < 0.5).float()
    y = bank(x)
    assert y.shape == (2, 4, 6, 6)
    x2 = x.clone()
    x2[:, 7:] = 1 - x2[:, 7:]  # frames no sub-filter covers
    x2[:, 2] = 1 - x2[:, 2]
    assert torch.equal(bank(x2), y)
    w = bank.binary_weight().detach()[:, :, 0, 0]
    for row in w:  # every output channel: one magnitude on its taps, zero elsewhere
        mags = row[row != 0].abs()
        assert torch.allclose(mags, mags[0].expand_as(mags))
    assert (w[:2, :3] == 0).all() and (w[:2, 3:] != 0).all()  # sub-filter 0: frames 3..6
    assert (w[2:, 2:] == 0).all() and (w[2:, :2] != 0).all()  # sub-filter 1: frames 0..1
    y.sum().backward()
    assert bank.weight.grad.abs().sum() > 0


def test_scale_attention_starts_as_identity_and_learns():
    att = ScaleAttention(tokens=4, dim=3)
    x = torch.randn(2, 12, 5, 5)
    assert torch.allclose(att(x), x)
    with torch.no_grad():
        att.gamma.fill_(1.0)
    y = att(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.square().sum().backward()
    assert att.query.weight.grad.abs().sum() > 0 and att.key.weight.grad.abs().sum() > 0


def test_pfu_shapes_gradients_and_no_fusion_ablation():
    v, d = torch.randn(2, 6, 8, 8, requires_grad=True), torch.randn(2, 6, 8, 8, requires_grad=True)
    pfu = PathwayFusionUnit(6)
    v2, d2 = pfu(v, d)
    assert v2.shape == v.shape and d2.shape == d.shape
    v2.sum().backward()
    assert d.grad.abs().sum() > 0  # ventral output depends on the dorsal stream: that is the fusion
    plain = PathwayFusionUnit(6, fuse=False)
    d3 = torch.randn_like(d)
    assert torch.allclose(plain(v, d)[0], plain(v, d3)[0])


def test_warp_integer_shift_compose_and_invert():
    x = torch.arange(64.0).view(1, 1, 8, 8)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 1.0  # out(p) = x(p + (1, 0)): content moves one pixel left
    y = warp(x, flow)
    assert torch.allclose(y[..., :, :-1], x[..., :, 1:])
    f2 = torch.zeros(1, 2, 8, 8)
    f2[:, 1] = 2.0
    both = compose_flows(flow, f2)
    assert torch.allclose(warp(warp(x, flow), f2)[..., 1:-3, 1:-2], warp(x, both)[..., 1:-3, 1:-2])
    assert torch.allclose(both[:, 0], torch.ones(1, 8, 8))
    assert torch.allclose(both[:, 1], 2 * torch.ones(1, 8, 8))
    assert torch.allclose(invert_flow(flow), -flow)


def _bilinear_zero(img: np.ndarray, y: float, x: float) -> float:
    h, w = img.shape
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * img[yy, xx]
    return total


def _deform_reference(x, offset, mask, weight, bias):
    """Direct DCNv2: out[o, i, j] = b[o] + sum_{c, tap} W[o, c, tap] * m * x_c(i + ky + dy, j + kx + dx)."""
    b, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    out = np.zeros((b, o, h, w))
    for n in range(b):
        for i in range(h):
            for j in range(w):
                for t in range(kh * kw):
                    ky, kx = t // kw - (kh - 1) / 2, t % kw - (kw - 1) / 2
                    dx, dy = offset[n, t, 0, i, j], offset[n, t, 1, i, j]
                    m = mask[n, t, i, j]
                    for ch in range(c):
                        v = _bilinear_zero(x[n, ch], i + ky + dy, j + kx + dx)
                        out[n, :, i, j] += weight[:, ch, t // kw, t % kw] * m * v
    return out + bias.reshape(1, -1, 1, 1)


def test_deform_conv_matches_direct_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    offset = 1.5 * torch.randn(2, 9, 2, 5, 6, generator=g, dtype=torch.float64)
    mask = torch.rand(2, 9, 5, 6, generator=g, dtype=torch.float64)
    got = deform_conv2d(x, offset, mask, weight, bias).numpy()
    want = _deform_reference(x.numpy(), offset.numpy(), mask.numpy(), weight.numpy(), bias.numpy())
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_deform_conv_with_zero_offsets_is_a_plain_convolution():
    x = torch.randn(1, 3, 7, 7)
    layer = DeformConv2d(3, 5)
    y = layer(x, torch.zeros(1, 9, 2, 7, 7), torch.ones(1, 9, 7, 7))
    assert torch.allclose(y, F.conv2d(x, layer.weight, layer.bias, padding=1), atol=1e-5)


def test_deform_conv_gradients():
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    off = (0.3 + 0.4 * torch.rand(1, 9, 2, 4, 4, dtype=torch.float64)).requires_grad_()
    mask = torch.rand(1, 9, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c, d: deform_conv2d(a, b, c, d), (x, off, mask, w))
