"""FAM, the cloud side: a window of N feature maps (+ motion between them) -> the luminance at the centre.

Contract with the codec (issue 5):
    forward(features (B, N, C, h, w), flows=None) -> image (B, 1, H, W), H = 2h, W = 2w, at the time of
    the centre map (index N // 2). flows (B, N-1, 2, h, w): flows[:, k] moves map k onto map k+1,
    i.e. warp(F_k, flows[:, k]) ~ F_{k+1}, in feature pixels, channel 0 = x, 1 = y. With flows=None the
    FAM's own small estimator (`FlowEstimator`) computes them; the codec's refined motion replaces it.

Associated Feature Regression (AFR, our reading of Eq. 9): each neighbour k is brought to the centre's
grid by the chained flow g_k (large motion), then a modulated deformable convolution samples it at
g_k + small learned offsets (sub-pixel motion, occlusions, flow errors); the warped and the deformed
results are fused. Neighbours before and after the centre form the previous / subsequent branches, each
fused on its own, then merged with the centre map and decoded by a residual head to full resolution.
Ablations: afr="warp" (no deformable conv), afr="deform" (offsets learned from scratch, no flow).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikesci.models.layers import DeformConv2d, ResBlock, compose_flows, invert_flow, warp


@dataclass(frozen=True)
class FAMConfig:
    channels: int = 8  # feature channels C (must match the FEM)
    maps: int = 5  # N, feature maps per window (centre = N // 2)
    width: int = 32  # width of the fusion / reconstruction trunk
    align_width: int = 24  # width of each aligned neighbour
    blocks: int = 4  # residual blocks of the trunk
    flow_width: int = 24
    offset_width: int = 24  # hidden width of the offset / mask predictor of the deformable conv
    up_width: int = 16  # channels of the full-resolution tail
    afr: str = "both"  # "both" (warp + deform), "warp", "deform" (ablations)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FAMConfig:
        return cls(**d)


FAM_PRESETS = {
    "base": FAMConfig(),
    "lite": FAMConfig(width=24, blocks=3, align_width=16, flow_width=16, offset_width=16, up_width=8),
}
"""Named FAM sizes: `lite` (about 65 kFLOPs per output pixel) trains in minutes on a shared CPU."""


class FlowEstimator(nn.Module):
    """Flow between two feature maps: warp(a, flow) ~ b. Coarse (1/4) estimate, then a full-res refinement."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        act = nn.LeakyReLU(0.1)
        self.coarse = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, padding=1), act,
            nn.Conv2d(width, width, 3, padding=2, dilation=2), act,
            nn.Conv2d(width, width, 3, padding=4, dilation=4), act,
            nn.Conv2d(width, width, 3, padding=1), act,
            nn.Conv2d(width, 2, 3, padding=1))
        self.fine = nn.Sequential(
            nn.Conv2d(2 * channels + 2, width, 3, padding=1), act,
            nn.Conv2d(width, width, 3, padding=1), act,
            nn.Conv2d(width, 2, 3, padding=1))
        for head in (self.coarse[-1], self.fine[-1]):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        small = torch.cat([F.avg_pool2d(a, 4), F.avg_pool2d(b, 4)], 1)
        flow = 4.0 * F.interpolate(self.coarse(small), size=(h, w), mode="bilinear", align_corners=False)
        return flow + self.fine(torch.cat([warp(a, flow), b, flow], 1))


def chain_to_centre(flows: torch.Tensor, centre: int) -> list[torch.Tensor]:
    """Flows from the centre map's grid into every map k (identity for k = centre): F_c ~ warp(F_k, g_k).

    flows (B, N-1, 2, h, w) with warp(F_k, flows[:, k]) ~ F_{k+1}. Before the centre the flows are chained
    forward; after it they are inverted (fixed point) and chained backward.
    """
    n = flows.shape[1] + 1
    out: list[torch.Tensor | None] = [None] * n
    out[centre] = torch.zeros_like(flows[:, 0])
    g = None
    for k in range(centre - 1, -1, -1):
        g = flows[:, k] if g is None else compose_flows(flows[:, k], g)
        out[k] = g
    g = None
    for k in range(centre + 1, n):
        u = invert_flow(flows[:, k - 1])
        g = u if g is None else compose_flows(u, g)
        out[k] = g
    return out  # type: ignore[return-value]


class AFR(nn.Module):
    """Align one neighbour to the centre: warp by the flow, then deformable conv around it, then fuse."""

    def __init__(self, channels: int, out: int, mode: str = "both", kernel: int = 3, hidden: int = 24):
        super().__init__()
        if mode not in ("both", "warp", "deform"):
            raise ValueError(f"afr must be both, warp or deform, got {mode!r}")
        self.mode, self.k = mode, kernel * kernel
        act = nn.LeakyReLU(0.1)
        self.warp_proj = nn.Conv2d(channels, out, 3, padding=1)
        if mode != "warp":
            self.offsets = nn.Sequential(nn.Conv2d(2 * channels + 2, hidden, 3, padding=1), act,
                                         nn.Conv2d(hidden, hidden, 3, padding=1), act,
                                         nn.Conv2d(hidden, 3 * self.k, 3, padding=1))
            nn.init.zeros_(self.offsets[-1].weight)
            nn.init.zeros_(self.offsets[-1].bias)
            self.dcn = DeformConv2d(channels, out, kernel)
            self.fuse = nn.Conv2d(2 * out, out, 1)
        self.act = act

    def forward(self, neighbour: torch.Tensor, centre: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        if self.mode == "deform":
            flow = torch.zeros_like(flow)
        warped = warp(neighbour, flow)
        wfeat = self.act(self.warp_proj(warped))
        if self.mode == "warp":
            return wfeat
        b, _, h, w = neighbour.shape
        o = self.offsets(torch.cat([warped, centre, flow], 1))
        offset = o[:, : 2 * self.k].reshape(b, self.k, 2, h, w)
        if self.mode == "deform":
            offset = 4.0 * torch.tanh(offset / 4.0)  # DCN alone: bounded, learned offsets
        offset = offset + flow.unsqueeze(1)
        mask = torch.sigmoid(o[:, 2 * self.k :])
        dfeat = self.act(self.dcn(neighbour, offset, mask))
        return self.act(self.fuse(torch.cat([wfeat, dfeat], 1)))


class FAM(nn.Module):
    """Feature Analysis Module for reconstruction: (B, N, C, h, w) features -> (B, 1, 2h, 2w) luminance."""

    def __init__(self, config: FAMConfig = FAMConfig()):
        super().__init__()
        self.config = cfg = config
        act = nn.LeakyReLU(0.1)
        self.flow = FlowEstimator(cfg.channels, cfg.flow_width)
        self.align = AFR(cfg.channels, cfg.align_width, cfg.afr, hidden=cfg.offset_width)
        half = cfg.maps // 2
        self.centre_in = nn.Sequential(nn.Conv2d(cfg.channels, cfg.align_width, 3, padding=1), act)
        self.prev_branch = nn.Sequential(nn.Conv2d(max(half, 1) * cfg.align_width, cfg.align_width, 3,
                                                   padding=1), act)
        self.next_branch = nn.Sequential(nn.Conv2d(max(half, 1) * cfg.align_width, cfg.align_width, 3,
                                                   padding=1), act)
        self.merge = nn.Sequential(nn.Conv2d(3 * cfg.align_width, cfg.width, 3, padding=1), act)
        self.trunk = nn.Sequential(*[ResBlock(cfg.width) for _ in range(cfg.blocks)])
        u = cfg.up_width
        self.up = nn.Sequential(nn.Conv2d(cfg.width, 4 * u, 3, padding=1), nn.PixelShuffle(2), act,
                                nn.Conv2d(u, u, 3, padding=1), act, nn.Conv2d(u, 1, 3, padding=1))
        self.base = nn.Conv2d(cfg.channels, 4, 1)

    def estimate_flows(self, features: torch.Tensor) -> torch.Tensor:
        """(B, N, C, h, w) -> (B, N-1, 2, h, w) with warp(F_k, flows[:, k]) ~ F_{k+1}."""
        b, n, c, h, w = features.shape
        a = features[:, :-1].reshape(b * (n - 1), c, h, w)
        z = features[:, 1:].reshape(b * (n - 1), c, h, w)
        return self.flow(a, z).view(b, n - 1, 2, h, w)

    def forward(self, features: torch.Tensor, flows: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        b, n, c, h, w = features.shape
        if n != cfg.maps or c != cfg.channels:
            raise ValueError(f"FAM expects (B, {cfg.maps}, {cfg.channels}, h, w), got {tuple(features.shape)}"
                             )
        if flows is None:
            flows = self.estimate_flows(features)
        mid = n // 2
        centre = features[:, mid]
        g = chain_to_centre(flows, mid)
        others = [k for k in range(n) if k != mid]
        nb = torch.cat([features[:, k] for k in others], 0)  # all neighbours in one batch
        fl = torch.cat([g[k] for k in others], 0)
        aligned = self.align(nb, centre.repeat(len(others), 1, 1, 1), fl).view(len(others), b, -1, h, w)
        prev = aligned[:mid].permute(1, 0, 2, 3, 4).reshape(b, -1, h, w)
        nxt = aligned[mid:].permute(1, 0, 2, 3, 4).reshape(b, -1, h, w)
        x = self.merge(torch.cat([self.prev_branch(prev), self.centre_in(centre), self.next_branch(nxt)], 1))
        x = self.trunk(x)
        base = F.pixel_shuffle(self.base(centre), 2)
        return base + self.up(x)
