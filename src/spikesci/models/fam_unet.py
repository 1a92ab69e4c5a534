"""FAM release 3, the cloud side: N full-resolution feature maps -> the luminance at the centre map's time.

Why a U-Net: spike-REDS moves about 0.1-0.15 px per spike frame, so the maps of an 81-frame window are a
few pixels apart; three scales (full, 1/2, 1/4) give the receptive field to align and fuse them without an
explicit flow, at about 110 k multiply-adds per pixel (cheaper than BaseNet's 180 k, with a far larger
receptive field). Same contract as `analysis.FAM`: forward(features (B, N, C, H, W), flows=None).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikesci.models.layers import ResBlock


@dataclass(frozen=True)
class UNetFAMConfig:
    channels: int = 2  # feature channels per map (must match the FEM)
    maps: int = 3  # N, maps per window (centre = N // 2)
    widths: tuple[int, int, int] = (32, 64, 96)  # channels at full, 1/2 and 1/4 resolution
    blocks: tuple[int, int, int] = (1, 1, 2)  # residual blocks per scale on the way down

    kind = "unet"

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> UNetFAMConfig:
        d = {k: v for k, v in d.items() if k != "kind"}
        return cls(**{**d, "widths": tuple(d["widths"]), "blocks": tuple(d["blocks"])})


class UNetFAM(nn.Module):
    def __init__(self, config: UNetFAMConfig = UNetFAMConfig()):
        super().__init__()
        self.config = cfg = config
        w0, w1, w2 = cfg.widths
        act = nn.LeakyReLU(0.1)
        cin = cfg.maps * cfg.channels
        self.stem = nn.Sequential(nn.Conv2d(cin, w0, 3, padding=1), act)
        self.enc0 = nn.Sequential(*[ResBlock(w0) for _ in range(cfg.blocks[0])])
        self.down1 = nn.Sequential(nn.Conv2d(w0, w1, 3, stride=2, padding=1), act)
        self.enc1 = nn.Sequential(*[ResBlock(w1) for _ in range(cfg.blocks[1])])
        self.down2 = nn.Sequential(nn.Conv2d(w1, w2, 3, stride=2, padding=1), act)
        self.enc2 = nn.Sequential(*[ResBlock(w2) for _ in range(cfg.blocks[2])])
        self.up2 = nn.Sequential(nn.Conv2d(w2, 4 * w1, 1), nn.PixelShuffle(2))
        self.dec1 = ResBlock(w1)
        self.up1 = nn.Sequential(nn.Conv2d(w1, 4 * w0, 1), nn.PixelShuffle(2))
        self.dec0 = ResBlock(w0)
        self.head = nn.Conv2d(w0, 1, 3, padding=1)
        self.base = nn.Conv2d(cin, 1, 1)  # a linear read-out of the features, refined by the U-Net

    def forward(self, features: torch.Tensor, flows: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        b, n, c, h, w = features.shape
        if n != cfg.maps or c != cfg.channels:
            raise ValueError(f"FAM expects (B, {cfg.maps}, {cfg.channels}, H, W), "
                             f"got {tuple(features.shape)}")
        x = features.reshape(b, n * c, h, w)
        ph, pw = (-h) % 4, (-w) % 4  # two 2x downsamplings
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        s0 = self.enc0(self.stem(xp))
        s1 = self.enc1(self.down1(s0))
        s2 = self.enc2(self.down2(s1))
        d1 = self.dec1(self.up2(s2) + s1)
        d0 = self.dec0(self.up1(d1) + s0)
        out = self.head(d0) + self.base(xp)
        return out[..., :h, :w]
