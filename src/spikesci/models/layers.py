"""Building blocks shared by the end side (FEM) and the cloud side (FAM).

- `BinaryTemporalBank`: 1x1 convolutions over ranges of spike frames whose weights are signs
  (+-alpha per output channel), trained with a straight-through estimator. On binary spikes each is a
  signed spike count, which a camera can compute with adders only.
- `ScaleAttention`: a tiny attention whose tokens are the sub-filters of one pathway at each pixel.
- `PathwayFusionUnit`: our reading of the paper's PFU (its Eq. 7 is lost in the text): gated cross-pathway
  residual exchange between the ventral and dorsal streams.
- `warp`, `compose_flows`, `invert_flow`: backward warping with flows in pixels, (x, y) channel order.
- `deform_conv2d`: modulated deformable convolution (DCNv2) with `grid_sample`, so no torchvision is needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _SignSTE(torch.autograd.Function):
    """sign(w) forward (0 -> +1); identity gradient inside |w| <= 1 (clipped straight-through)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(w)
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


def binarize(weight: torch.Tensor) -> torch.Tensor:
    """Binary weights sign(w) * alpha with alpha = mean |w| per output channel (XNOR-Net scaling)."""
    alpha = weight.abs().mean(dim=tuple(range(1, weight.dim())), keepdim=True)
    return _SignSTE.apply(weight) * alpha


class BinaryTemporalBank(nn.Module):
    """K binarized temporal sub-filters, each a 1x1 conv over its own frames of the spike window.

    `ranges` are (start, length) in window frames. The sub-filters are stored as one masked weight over the
    frames they jointly cover, so the whole bank is one convolution (one GEMM) on a view of the input;
    taps outside a sub-filter's range are exactly zero. Output: (B, K * out_channels, H, W), grouped by
    sub-filter, each a signed spike count divided by the sub-filter's length.
    """

    def __init__(self, ranges: list[tuple[int, int]], out_channels: int):
        super().__init__()
        self.lo = min(s for s, _ in ranges)
        self.hi = max(s + n for s, n in ranges)
        k, span = len(ranges), self.hi - self.lo
        mask = torch.zeros(k * out_channels, span, 1, 1)
        norm = torch.zeros(k * out_channels, 1, 1, 1)
        for i, (s, n) in enumerate(ranges):
            mask[i * out_channels : (i + 1) * out_channels, s - self.lo : s - self.lo + n] = 1.0
            norm[i * out_channels : (i + 1) * out_channels] = 1.0 / n
        w = 0.5 * torch.rand(k * out_channels, span, 1, 1) + 0.1
        flip = torch.where(torch.rand_like(w) < 0.5, -1.0, 1.0)
        flip[::out_channels] = 1.0  # the first map of every sub-filter starts as a box filter (a spike count)
        self.weight = nn.Parameter(w * flip)
        self.bias = nn.Parameter(torch.zeros(k * out_channels))
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("norm", norm, persistent=False)

    def binary_weight(self) -> torch.Tensor:
        """sign(w) * alpha on each sub-filter's taps (alpha = mean |w| there), 0 elsewhere, / length."""
        alpha = (self.weight.abs() * self.mask).sum(dim=(1, 2, 3), keepdim=True) / self.mask.sum(
            dim=(1, 2, 3), keepdim=True)
        return _SignSTE.apply(self.weight) * self.mask * alpha * self.norm

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return F.conv2d(spikes[:, self.lo : self.hi], self.binary_weight(), self.bias)


class ScaleAttention(nn.Module):
    """Attention across the K sub-filters (tokens) of a pathway at each pixel.

    A query made from all tokens is matched against each token's key; the softmax over the K scores
    reweights the tokens (value = token). It lets each pixel favour short windows where content moves and
    long ones where it is still, at the cost of a few multiply-adds per pixel. gamma = 0 starts as identity.
    """

    def __init__(self, tokens: int, dim: int, key_dim: int = 4):
        super().__init__()
        self.tokens, self.dim, self.key_dim = tokens, dim, key_dim
        self.key = nn.Conv2d(tokens * dim, tokens * key_dim, 1, groups=tokens)
        self.query = nn.Conv2d(tokens * dim, key_dim, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        k_, d, e = self.tokens, self.dim, self.key_dim
        keys = self.key(x).view(b, k_, e, h, w)
        scores = (keys * self.query(x).unsqueeze(1)).sum(dim=2) * (e**-0.5)  # (B, K, h, w)
        weight = 1.0 + self.gamma * (k_ * scores.softmax(dim=1) - 1.0)
        return (x.view(b, k_, d, h, w) * weight.unsqueeze(2)).view(b, k_ * d, h, w)


class DWSep(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 + LeakyReLU: the light spatial layer of the end side."""

    def __init__(self, cin: int, cout: int, act: bool = True):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pw = nn.Conv2d(cin, cout, 1)
        self.act = nn.LeakyReLU(0.1) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.pw(self.dw(x)))


class PathwayFusionUnit(nn.Module):
    """Gated cross-pathway fusion (our design for the lost Eq. 7).

    v' = v + S_v(v) + g_v * P_dv(d),   d' = d + S_d(d) + g_d * P_vd(v),   [g_v, g_d] = sigmoid(G([v, d]))
    Each stream keeps its own spatial layer S; the gates decide per pixel how much of the other stream's
    evidence (motion for the ventral stream, structure for the dorsal one) flows in.
    With `fuse=False` (ablation "no PFU") the cross terms are dropped and the streams stay separate.
    """

    def __init__(self, channels: int, fuse: bool = True):
        super().__init__()
        self.fuse = fuse
        self.sv, self.sd = DWSep(channels, channels), DWSep(channels, channels)
        if fuse:
            self.gate = nn.Conv2d(2 * channels, 2 * channels, 1)
            self.dv = nn.Conv2d(channels, channels, 1)
            self.vd = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v2, d2 = v + self.sv(v), d + self.sd(d)
        if self.fuse:
            gv, gd = torch.sigmoid(self.gate(torch.cat([v, d], 1))).chunk(2, dim=1)
            v2 = v2 + gv * self.dv(d)
            d2 = d2 + gd * self.vd(v)
        return v2, d2


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a LeakyReLU and a residual connection (cloud side)."""

    def __init__(self, channels: int):
        super().__init__()
        self.c1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.c2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(self.act(self.c1(x)))


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """View k in 0..7 of the last two axes: a mirror (k & 4) then k & 3 quarter turns. Training augments
    with all eight and `Perception.reconstruct(ensemble=...)` averages over them."""
    if k & 4:
        x = x.flip(-1)
    return torch.rot90(x, k & 3, dims=(-2, -1))


def undihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of `dihedral(., k)`."""
    x = torch.rot90(x, -(k & 3), dims=(-2, -1))
    return x.flip(-1) if k & 4 else x


def base_grid(h: int, w: int, device=None, dtype=None) -> torch.Tensor:
    """Pixel coordinates (1, 2, h, w), channel 0 = x (column), 1 = y (row)."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                            torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys])[None]


def _sample(x: torch.Tensor, coords: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """Bilinear sample of x (B, C, H, W) at pixel coords (B, 2, h', w') (x, y)."""
    h, w = x.shape[-2:]
    gx = coords[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = coords[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(x, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode=padding_mode,
                         align_corners=True)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(p) = x(p + flow(p)); flow (B, 2, H, W) in pixels, (x, y). Borders replicate.

    Convention shared with the codec: warp(F_k, flows[:, k]) ~ F_{k+1}.
    """
    grid = base_grid(*x.shape[-2:], device=x.device, dtype=x.dtype) + flow
    return _sample(x, grid, "border")


def compose_flows(first: torch.Tensor, then: torch.Tensor) -> torch.Tensor:
    """Flow equal to warping by `first` then by `then`: warp(warp(x, first), then) ~ warp(x, result)."""
    return then + warp(first, then)


def invert_flow(flow: torch.Tensor, iterations: int = 2) -> torch.Tensor:
    """Approximate inverse u of a flow f (u(p) = -f(p + u(p))), by fixed-point iteration from -f."""
    u = -flow
    for _ in range(iterations):
        u = -warp(flow, u)
    return u


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """Modulated deformable convolution (stride 1, 'same' padding, dilation 1, one offset group).

    x (B, C, H, W); weight (O, C, kh, kw); offset (B, kh*kw, 2, H, W) in pixels, (x, y), added to each tap's
    position; mask (B, kh*kw, H, W) multiplies each tap's sample (DCNv2). Samples outside the image are 0.
    All taps are gathered with one grid_sample, then mixed with one matrix product.
    """
    b, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    k = kh * kw
    ky, kx = torch.meshgrid(torch.arange(kh, device=x.device, dtype=x.dtype) - (kh - 1) / 2,
                            torch.arange(kw, device=x.device, dtype=x.dtype) - (kw - 1) / 2, indexing="ij")
    taps = torch.stack([kx.reshape(-1), ky.reshape(-1)], dim=1).view(1, k, 2, 1, 1)
    coords = base_grid(h, w, device=x.device, dtype=x.dtype).unsqueeze(1) + taps + offset  # (B, K, 2, H, W)
    coords = coords.permute(0, 2, 1, 3, 4).reshape(b, 2, k * h, w)
    cols = _sample(x, coords, "zeros").view(b, c, k, h, w)
    if mask is not None:
        cols = cols * mask.unsqueeze(1)
    out = torch.einsum("bckhw,ock->bohw", cols, weight.reshape(o, c, k))
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class DeformConv2d(nn.Module):
    """A 3x3 modulated deformable convolution whose offsets and masks are given by the caller."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.kernel = kernel

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return deform_conv2d(x, offset, mask, self.weight, self.bias)
