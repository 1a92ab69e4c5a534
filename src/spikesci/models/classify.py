"""The classification FAM head: a feature-map sequence (B, N, C, h, w) -> class logits (B, K).

It is the cloud-side analysis of Fig. 7(b) for the semantic task: each feature map (FEM output, or the
codec's decoded features) goes through a small strided CNN, global average and max pooling make it
translation-invariant (the objects move fast, so where they are says nothing about what they are), and
attention pooling over time weighs the maps where the object is sharpest and fully inside the frame.
Inputs are normalised per channel by statistics of the training features (stored with the weights), so the
same head works on any feature scale (FEM features, decoded features, TFP images for the baseline).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class HeadConfig:
    in_channels: int
    num_classes: int
    width: int = 16  # channels of the first layer (doubled twice)
    dropout: float = 0.2
    temporal: str = "attention"  # attention | mean
    stem_stride: int = 1  # 2 for full-resolution inputs (TFP images), 1 for half-resolution FEM features


class ClassifyHead(nn.Module):
    """Spatial CNN per map, then temporal attention pooling, then a linear classifier."""

    def __init__(self, config: HeadConfig):
        super().__init__()
        if config.temporal not in ("attention", "mean"):
            raise ValueError(f"temporal must be 'attention' or 'mean', got {config.temporal!r}")
        self.config = config
        c, w = config.in_channels, config.width

        def block(a: int, b: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, stride, 1), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]

        self.spatial = nn.Sequential(
            *block(c, w, config.stem_stride),
            *block(w, w, 2),
            *block(w, 2 * w, 1),
            *block(2 * w, 2 * w, 2),
            *block(2 * w, 4 * w, 1),
            *block(4 * w, 4 * w, 2),
        )
        dim = 8 * w  # avg and max pooled
        self.score = nn.Sequential(nn.Linear(dim, dim // 4), nn.Tanh(), nn.Linear(dim // 4, 1))
        self.classifier = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(dim, config.num_classes))
        self.register_buffer("mean", torch.zeros(c))
        self.register_buffer("std", torch.ones(c))

    def set_normalisation(self, features: torch.Tensor) -> None:
        """Per-channel mean and std from training features (B, N, C, h, w)."""
        f = features.float().transpose(0, 2).reshape(features.shape[2], -1)
        self.mean.copy_(f.mean(1))
        self.std.copy_(f.std(1).clamp_min(1e-4))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """(B, N, C, h, w) -> (B, N, D) per-map embeddings."""
        if features.ndim == 4:  # one map per sample
            features = features[:, None]
        if features.ndim != 5 or features.shape[2] != self.config.in_channels:
            raise ValueError(
                f"expected features (B, N, {self.config.in_channels}, h, w), got {tuple(features.shape)}"
            )
        B, N, C, h, w = features.shape
        x = (features.float() - self.mean.view(1, 1, C, 1, 1)) / self.std.view(1, 1, C, 1, 1)
        y = self.spatial(x.reshape(B * N, C, h, w))
        pooled = torch.cat([y.mean((2, 3)), y.amax((2, 3))], 1)
        return pooled.reshape(B, N, -1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        e = self.embed(features)
        if self.config.temporal == "attention":
            weights = torch.softmax(self.score(e).squeeze(-1), dim=1)  # (B, N)
            pooled = (weights.unsqueeze(-1) * e).sum(1)
        else:
            pooled = e.mean(1)
        return self.classifier(pooled)


def head_state(head: ClassifyHead) -> dict:
    """What a checkpoint stores: the config and the weights (normalisation included)."""
    return {"config": asdict(head.config), "state_dict": head.state_dict()}


def head_from_state(state: dict) -> ClassifyHead:
    head = ClassifyHead(HeadConfig(**state["config"]))
    head.load_state_dict(state["state_dict"])
    return head.eval()
