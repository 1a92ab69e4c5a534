"""The reference network of the perception benchmark: Spike-Zoo's BaseNet layout on raw spikes.

41 spike frames as 41 input channels, 3x3 convolutions to 64, 128, 64, 16 and 1 channels with ReLUs, full
resolution, 0.18 M parameters (our own implementation of the published layout). It is not split into an
end and a cloud side, so it measures what the split of release 3 (FEM -> 2 values per pixel -> FAM) costs
at the same data and training budget. Trained by `spikesci train --stage reference`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BaseNetConfig:
    frames: int = 41
    widths: tuple[int, ...] = (64, 128, 64, 16)

    kind = "basenet"

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> BaseNetConfig:
        return cls(frames=d["frames"], widths=tuple(d["widths"]))


class BaseNet(nn.Module):
    """spikes (B, frames, H, W) centred on the target frame -> luminance (B, 1, H, W)."""

    def __init__(self, config: BaseNetConfig = BaseNetConfig()):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        cin = config.frames
        for w in config.widths:
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU()]
            cin = w
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    @property
    def frames(self) -> int:
        return self.config.frames

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        t = spikes.shape[1]
        a = (t - self.config.frames) // 2
        return self.body(spikes[:, a:a + self.config.frames].to(self.body[0].weight.dtype))
