"""Intra coding of the first feature map of a group of pictures: a mean-scale hyperprior image codec."""

from __future__ import annotations

import torch
from torch import nn

from spikesci.models.codec.config import CodecConfig
from spikesci.models.codec.entropy import Tables
from spikesci.models.codec.exact import analysis_net, quant_act, up_net
from spikesci.models.codec.hyperprior import HyperpriorCoder


class IntraCodec(nn.Module):
    """g_a (end side) -> y -> hyperprior coder -> g_s (exact) -> F_hat."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        self.y_down = cfg.y_down
        self.g_a = analysis_net(cfg.channels, cfg.hidden, cfg.latent, cfg.y_down)
        self.g_s = up_net(cfg.latent, cfg.hidden, cfg.channels, cfg.y_down, fine=cfg.fine)
        self.coder = HyperpriorCoder(cfg.latent, cfg.hyper_hidden, cfg.hyper, cfg.z_down, cfg.qualities,
                                     step_range=(-1.5, 1.0))

    def forward(self, x: torch.Tensor, quality: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Training: (x_hat, [likelihoods])."""
        y_hat, y_lik, z_lik = self.coder(self.g_a(x), quality)
        return quant_act(self.g_s(y_hat)), [y_lik, z_lik]

    def compress(self, x: torch.Tensor, quality: int, encoder, tables: Tables) -> tuple[torch.Tensor, float]:
        """x (1, C, h, w) padded -> (exact x_hat float64, estimated bits)."""
        with torch.no_grad():
            y = self.g_a(x.float())
        y_hat, bits = self.coder.compress(y, quality, encoder, tables)
        return self._synth(y_hat), bits

    def decompress(self, decoder, shape: tuple[int, int], quality: int, tables: Tables) -> torch.Tensor:
        """Inverse of `compress` for a padded map of size `shape`."""
        h, w = shape
        y_hat = self.coder.decompress(decoder, (h >> self.y_down, w >> self.y_down), quality, tables)
        return self._synth(y_hat)

    def _synth(self, y_hat: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return quant_act(self.g_s(y_hat))
