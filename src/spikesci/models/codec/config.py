"""Shape of the feature codec (a small frozen dataclass stored with the weights)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CodecConfig:
    """Channels and scales. Latents y sit at 1 / 2^y_down of the feature map, hyper-latents z a further
    1 / 2^z_down; maps are padded to a multiple of 2^(y_down + z_down) and cropped after decoding."""

    channels: int = 8  # feature channels C (the FEM's output)
    hidden: int = 32  # width of the transforms
    latent: int = 32  # channels of y
    hyper: int = 16  # channels of z
    hyper_hidden: int = 24  # width of the hyper transforms
    context: int = 16  # channels of the temporal context (inter frames)
    mv_hidden: int = 16  # motion-vector codec width
    mv_latent: int = 8
    mv_hyper: int = 8
    fmvr_hidden: int = 16
    fine: int = 16  # channels of the decoder's full-resolution layers (they dominate the FLOPs)
    y_down: int = 2
    z_down: int = 2
    qualities: int = 4
    search: int = 16  # motion search range in feature pixels (encoder side)
    # input pixels folded into channels per side: 2 takes a full-resolution FEM's maps (C / 4 channels,
    # H x W) as C channels at half resolution, the layout the transforms were first trained on (release 2)
    fold: int = 1

    @property
    def in_channels(self) -> int:
        """Channels of the maps compress() takes and decompress() returns."""
        return self.channels // (self.fold * self.fold)

    @property
    def multiple(self) -> int:
        return 1 << (self.y_down + self.z_down)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CodecConfig:
        return cls(**d)
