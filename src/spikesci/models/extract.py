"""FEM, the end side: a window of binary spike frames -> one compact feature map F_t (paper Sec. IV-A).

Window: frames [t - 39, t + 6] (46 frames, `FEMConfig.window`, t at index `lookback` = 39).
- Ventral pathway (structure): 4 binarized sub-filters with temporal receptive fields 7/9/11/13 centred on t.
- Dorsal pathway (motion): 4 binarized sub-filters of 10 frames sliding backward from t:
  [t-9, t], [t-19, t-10], [t-29, t-20], [t-39, t-30].
Each pathway: sub-filters (full resolution, `sub_channels` maps each) -> 2x2 space-to-depth -> self-attention
across its 4 sub-filters -> 1x1 projection to `width` channels at half resolution. Then `fusion_layers`
Pathway Fusion Units (layers.PathwayFusionUnit) and a light head give F_t: `channels` (8) maps at half
resolution, i.e. 2 numbers per pixel for the codec.

This module imports nothing from the cloud side: it is what a camera would run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikesci.models.layers import BinaryTemporalBank, DWSep, PathwayFusionUnit, ScaleAttention


@dataclass(frozen=True)
class FEMConfig:
    """Shape of the end-side network. `stride` is how many spike frames separate two feature maps."""

    channels: int = 8  # feature channels C of F_t
    width: int = 16  # channels of each pathway at half resolution
    sub_channels: int = 2  # maps per temporal sub-filter
    fusion_layers: int = 2  # number of PFUs
    ventral_trf: tuple[int, ...] = (7, 9, 11, 13)
    dorsal_window: int = 10
    dorsal_filters: int = 4
    lookahead: int = 6  # frames after t in the window (half the longest ventral TRF)
    stride: int = 20  # spike frames between feature maps (1000 maps/s at 20 kHz)
    dorsal: bool = True  # ablation: False = ventral pathway only
    intervals: bool = True  # feed spike-interval rates (TFI-like timing) into the ventral pathway
    pfu: bool = True  # ablation: False = no cross-pathway exchange (plain concatenation at the head)

    @property
    def lookback(self) -> int:
        """Frames before t in the window."""
        back_ventral = max(self.ventral_trf) // 2
        back_dorsal = self.dorsal_window * self.dorsal_filters - 1 if self.dorsal else 0
        return max(back_ventral, back_dorsal)

    @property
    def window(self) -> int:
        """Spike frames one feature map reads: [t - lookback, t + lookahead]."""
        return self.lookback + 1 + self.lookahead

    @property
    def scale(self) -> int:
        """Input pixels per feature pixel along each axis."""
        return 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FEMConfig:
        d = dict(d)
        d["ventral_trf"] = tuple(d["ventral_trf"])
        d.setdefault("intervals", False)  # weights saved before the interval features existed
        return cls(**d)


INTERVAL_FEATURES = 3


def _pack_bits(frames: torch.Tensor) -> torch.Tensor:
    """(B, n <= 56, H, W) 0/1 uint8 -> (B, H, W) int64 with frame j as bit j (bytes first, then words)."""
    b, n, h, w = frames.shape
    pad = (-n) % 8
    if pad:
        frames = torch.cat([frames, frames.new_zeros(b, pad, h, w)], 1)
    weights = (1 << torch.arange(8, dtype=torch.uint8)).view(1, 1, 8, 1, 1)
    packed = (frames.view(b, -1, 8, h, w) * weights).sum(2, dtype=torch.uint8)  # (B, n/8, H, W)
    out = torch.zeros(b, h, w, dtype=torch.int64)
    for i in range(packed.shape[1]):  # at most 7 bytes
        out |= packed[:, i].to(torch.int64) << (8 * i)
    return out


def _bit_positions(x: torch.Tensor, count: int) -> list[torch.Tensor]:
    """Positions of the `count` lowest set bits of each int64 (-1 where there are fewer). log2 of a power of
    two below 2^56 is exact in float64."""
    out = []
    x = x.clone()
    for _ in range(count):
        low = x & -x
        exponent = torch.log2(low.clamp_min(1).double()).round().long()
        pos = torch.where(low > 0, exponent, torch.full_like(x, -1))
        out.append(pos)
        x &= x - 1
    return out


def interval_rates(spikes: torch.Tensor, t: int, counts: bool = False) -> torch.Tensor:
    """Spike-timing rates at frame t of each window (B, T, H, W) -> (B, 3, H, W), in spikes per frame.

    The count-based filters quantize luminance to +-1 spike per window; the intervals between spikes carry
    the same light with frame precision (what TFI uses). Per pixel: the interval that contains t, the last
    complete interval before t, and the mean of the last 3 intervals. A camera gets these from a per-pixel
    "last spike times" register; here the window is packed into one such register per pixel (up to 56
    frames back, 8 ahead) and the last spikes are its lowest set bits, or, for longer windows or
    `counts=True`, cumulative counts over the frames (the same numbers, exactly; slower).
    Missing spikes (dark pixels) count as intervals reaching past the window, i.e. low rates.
    """
    out_dtype = spikes.dtype if spikes.dtype.is_floating_point else torch.float32
    s = spikes.detach().to(torch.uint8)
    ahead = s[:, t + 1:]
    if t + 1 <= 56 and ahead.shape[1] <= 8 and not counts:
        # bit registers: frames t, t-1, ..., 0 as the bits of one int64 per pixel; the k-th last spike is
        # the k-th lowest set bit (exact, ~10x less memory traffic than counting over the frames)
        back = _bit_positions(_pack_bits(s[:, : t + 1].flip(1)), 4)
        d = [torch.where(pos >= 0, pos.to(out_dtype), torch.full_like(pos, 2 * (t + 1) + 10 * k,
                                                                          dtype=out_dtype))
             for k, pos in zip((1, 2, 4), (back[0], back[1], back[3]))]
        if ahead.shape[1]:
            pos = _bit_positions(_pack_bits(ahead), 1)[0]
            nxt = torch.where(pos >= 0, pos.to(out_dtype) + 1, torch.full_like(pos, ahead.shape[1] + 1,
                                                                                 dtype=out_dtype))
        else:
            nxt = torch.ones_like(d[0])
        return torch.stack([1.0 / (nxt + d[0]), 1.0 / (d[1] - d[0]), 3.0 / (d[2] - d[0])], dim=1)
    # long windows: counts in the smallest integer type that holds them
    small = torch.uint8 if spikes.shape[1] < 256 else torch.int32
    cb = s[:, : t + 1].flip(1).cumsum(1, dtype=small)  # spikes in [t - j, t], j = 0..t
    far = float(2 * (t + 1))
    d = []
    for k in (1, 2, 4):  # distance back from t to the k-th last spike = #j with fewer than k (cb rises)
        first = (cb < k).sum(1, dtype=small).to(out_dtype)
        d.append(torch.where(cb[:, -1] >= k, first, torch.full_like(first, far + 10 * k)))
    if ahead.shape[1]:
        ca = ahead.cumsum(1, dtype=small)
        first = (ca < 1).sum(1, dtype=small).to(out_dtype) + 1
        nxt = torch.where(ca[:, -1] >= 1, first, torch.full_like(first, ahead.shape[1] + 1.0))
    else:
        nxt = torch.ones_like(d[0])
    return torch.stack([1.0 / (nxt + d[0]), 1.0 / (d[1] - d[0]), 3.0 / (d[2] - d[0])], dim=1)


class Pathway(nn.Module):
    """Binarized temporal sub-filters -> space-to-depth -> attention over sub-filters -> projection."""

    def __init__(self, ranges: list[tuple[int, int]], sub_channels: int, width: int, extra: int = 0):
        super().__init__()
        self.filters = BinaryTemporalBank(ranges, sub_channels)
        k, dim = len(ranges), 4 * sub_channels
        self.attention = ScaleAttention(k, dim)
        self.project = nn.Sequential(nn.Conv2d(k * dim + 4 * extra, width, 1), nn.LeakyReLU(0.1))

    def forward(self, spikes: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        maps = self.filters(spikes)  # (B, K*c, H, W), grouped by sub-filter
        tokens = F.pixel_unshuffle(maps, 2).contiguous(memory_format=torch.channels_last)  # (B, K*c*4, h, w)
        x = self.attention(tokens)
        if extra is not None:
            x = torch.cat([x, F.pixel_unshuffle(extra, 2).contiguous(memory_format=torch.channels_last)], 1)
        return self.project(x)


class FEM(nn.Module):
    """Feature Extraction Module: spikes (B, window, H, W) in {0, 1} -> F_t (B, channels, H/2, W/2)."""

    def __init__(self, config: FEMConfig = FEMConfig()):
        super().__init__()
        self.config = cfg = config
        t = cfg.lookback
        ventral = [(t - n // 2, n) for n in cfg.ventral_trf]
        self.ventral = Pathway(ventral, cfg.sub_channels, cfg.width,
                               INTERVAL_FEATURES if cfg.intervals else 0)
        self.dorsal = None
        if cfg.dorsal:
            w = cfg.dorsal_window
            dorsal = [(t + 1 - w * (i + 1), w) for i in range(cfg.dorsal_filters)]
            self.dorsal = Pathway(dorsal, cfg.sub_channels, cfg.width)
            self.fusion = nn.ModuleList(PathwayFusionUnit(cfg.width, fuse=cfg.pfu)
                                        for _ in range(cfg.fusion_layers))
            head_in = 2 * cfg.width
        else:
            self.fusion = nn.ModuleList(DWSep(cfg.width, cfg.width) for _ in range(cfg.fusion_layers))
            head_in = cfg.width
        self.head = DWSep(head_in, cfg.channels, act=False)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if spikes.dim() != 4 or spikes.shape[1] != cfg.window:
            raise ValueError(f"FEM expects (B, {cfg.window}, H, W) spike windows, got {tuple(spikes.shape)}")
        if spikes.shape[-1] % 2 or spikes.shape[-2] % 2:
            raise ValueError("FEM needs even height and width (pad first)")
        rates = interval_rates(spikes, cfg.lookback) if cfg.intervals else None  # uint8 input welcome
        spikes = spikes.to(self.head.pw.weight.dtype)
        v = self.ventral(spikes, rates.to(spikes.dtype) if rates is not None else None)
        if self.dorsal is None:
            for layer in self.fusion:
                v = v + layer(v)
            return self.head(v)
        d = self.dorsal(spikes)
        for pfu in self.fusion:
            v, d = pfu(v, d)
        return self.head(torch.cat([v, d], dim=1))


class LightHead(nn.Module):
    """Stage-1 head: one feature map -> luminance at t (it trains the FEM; the FAM does not use it)."""

    def __init__(self, channels: int = 8, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.1),
                                  nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1),
                                  nn.Conv2d(width, 4, 3, padding=1))
        self.base = nn.Conv2d(channels, 4, 1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.body(feature) + self.base(feature), 2)


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """4-neighbour Laplacian of every channel (replicate borders), same shape as x."""
    c = x.shape[1]
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=x.dtype, device=x.device)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)


def laplacian_loss(feature: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The Sec. V-B smoothness constraint, made scale-free: (mean |lap F| + mean (lap F)^2) / std(F).

    Dividing by each channel's spread (with its gradient) makes the loss blind to the scale of F, so the
    network cannot satisfy it by shrinking F (the next layer would simply scale back up); what remains is a
    true penalty on high frequencies relative to content.
    """
    lap = laplacian(feature)
    spread = feature.std(dim=(0, 2, 3)).view(1, -1, 1, 1) + eps
    rel = lap / spread
    return rel.abs().mean() + rel.pow(2).mean()
