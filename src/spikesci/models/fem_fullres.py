"""FEM release 3, the end side: a window of spike frames -> a few feature channels at FULL resolution.

Why full resolution: at the same budget of values per pixel per map, folding 2x2 blocks into channels (the
release-1/2 FEM) cost 2.3 dB on spike-REDS against a full-resolution encoder, and its 8 half-resolution
channels carried one image (|r| >= 0.99). This FEM keeps `channels` (2) values per pixel per map, computed
by a small stack of convolutions over the raw spike frames and the spike-interval rates at t (the timing
that TFI uses), about 20 k multiply-adds per pixel per map.

Window: [t - lookback, t + lookahead] (41 frames, t in the middle); one map every `stride` (20) frames, so
neighbouring windows overlap by half and the cloud side sees each frame in two maps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from spikesci.models.extract import INTERVAL_FEATURES, interval_rates


@dataclass(frozen=True)
class FullResFEMConfig:
    channels: int = 2  # feature values per pixel per map
    width: int = 32  # hidden channels
    lookback: int = 20
    lookahead: int = 20
    stride: int = 20
    intervals: bool = True

    kind = "fullres"

    @property
    def window(self) -> int:
        return self.lookback + 1 + self.lookahead

    @property
    def scale(self) -> int:
        """Input pixels per feature pixel along each axis."""
        return 1

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> FullResFEMConfig:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


class FullResFEM(nn.Module):
    """spikes (B, window, H, W) in {0, 1} -> features (B, channels, H, W)."""

    def __init__(self, config: FullResFEMConfig = FullResFEMConfig()):
        super().__init__()
        self.config = cfg = config
        act = nn.LeakyReLU(0.1)
        extra = INTERVAL_FEATURES if cfg.intervals else 0
        self.body = nn.Sequential(
            nn.Conv2d(cfg.window + extra, cfg.width, 1), act,
            nn.Conv2d(cfg.width, cfg.width, 3, padding=1), act,
            nn.Conv2d(cfg.width, cfg.width, 3, padding=1), act,
            nn.Conv2d(cfg.width, cfg.channels, 1))

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if spikes.dim() != 4 or spikes.shape[1] != cfg.window:
            raise ValueError(f"FEM expects (B, {cfg.window}, H, W) spike windows, got {tuple(spikes.shape)}")
        x = spikes.to(self.body[0].weight.dtype)
        if cfg.intervals:
            x = torch.cat([x, interval_rates(spikes, cfg.lookback).to(x.dtype)], 1)
        return self.body(x)
