"""Mean-scale hyperprior coder of one latent tensor, with per-quality quantisation steps (variable rate).

y is coded as q = round((y - mu) / step_c) with a Gaussian of scale sigma / step_c, where (mu, ln sigma)
come from the hyper-synthesis of z_hat (and optionally an extra exact context, e.g. the temporal prior of
an inter frame). z is coded with a learned zero-mean scale per channel. The per-quality, per-channel steps
are the variable-rate knob: one set of weights, one step vector per quality. On exact (float64) paths the
steps are stored float64 constants, so mu + q * step is a deterministic IEEE operation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spikesci.models.codec.entropy import (
    SUPPORT,
    Tables,
    dequantize,
    gaussian_likelihood,
    quantize_symbols,
    table_index,
)
from spikesci.models.codec.exact import Act, QConv, down_net, ste_round, up_net


class HyperpriorCoder(nn.Module):
    """h_a (encoder side), h_s and the parameter net (exact), per-quality steps, z scales."""

    def __init__(self, latent: int, hidden: int, hyper: int, z_down: int, qualities: int, extra: int = 0,
                 step_range: tuple[float, float] = (0.0, 0.0)):
        super().__init__()
        self.latent, self.hyper, self.z_down = latent, hyper, z_down
        self.h_a = nn.Sequential(QConv(latent, hidden, 3), Act(), down_net(hidden, hidden, hyper, z_down))
        self.h_s = up_net(hyper, hidden, hidden, z_down)
        width = max(hidden, latent)
        self.params = nn.Sequential(QConv(hidden + extra, width, 3), Act(), QConv(width, 2 * latent, 3))
        self.z_log_scale = nn.Parameter(torch.zeros(hyper))
        lo, hi = step_range
        init = torch.linspace(hi, lo, qualities) if qualities > 1 else torch.tensor([lo])
        self.log_step = nn.Parameter(init.view(-1, 1).repeat(1, latent).clone())
        # exported constants (float64), filled by `export_constants` or on load
        self.register_buffer("step64", torch.zeros(0, dtype=torch.float64), persistent=False)
        self.register_buffer("log_step64", torch.zeros(0, dtype=torch.float64), persistent=False)
        self.register_buffer("z_index", torch.zeros(0, dtype=torch.int64), persistent=False)

    # -- training ------------------------------------------------------------------------------------
    def forward(self, y: torch.Tensor, quality: int, extra: torch.Tensor | None = None) -> tuple:
        """(y_hat, likelihood of y, likelihood of z) with STE rounding and noise-based likelihoods."""
        z = self.h_a(y)
        z_hat = ste_round(z)
        z_lik = gaussian_likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5) if self.training else z_hat,
                                    self.z_log_scale.view(1, -1, 1, 1).expand_as(z))
        mu, log_scale = self._params(z_hat, extra)
        ls = self.log_step[quality].view(1, -1, 1, 1)
        r = (y - mu) / torch.exp(ls)
        r_q = ste_round(r)
        noisy = r + torch.empty_like(r).uniform_(-0.5, 0.5) if self.training else r_q
        y_lik = gaussian_likelihood(noisy, log_scale - ls)
        return mu + r_q * torch.exp(ls), y_lik, z_lik

    def _params(self, z_hat: torch.Tensor, extra: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        psi = self.h_s(z_hat)
        if extra is not None:
            psi = torch.cat([psi, extra], 1)
        mu, log_scale = self.params(psi).chunk(2, 1)
        return mu, log_scale

    # -- real coding ---------------------------------------------------------------------------------
    def export_constants(self) -> None:
        """Fix float64 steps and z tables from the trained parameters (export time only)."""
        ls = self.log_step.detach().double()
        self.log_step64 = ls
        self.step64 = torch.from_numpy(np.exp(ls.numpy()))
        self.z_index = torch.from_numpy(table_index(self.z_log_scale.detach().double().numpy(), 0.0))

    def _steps(self, quality: int) -> tuple[np.ndarray, np.ndarray]:
        step = self.step64[quality].numpy().reshape(1, -1, 1, 1)
        log_step = self.log_step64[quality].numpy().reshape(1, -1, 1, 1)
        return step, log_step

    def compress(self, y: torch.Tensor, quality: int, encoder, tables: Tables,
                 extra: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
        """Code y (1, latent, h, w) into `encoder`; returns (exact y_hat float64, estimated bits)."""
        with torch.no_grad():
            z = self.h_a(y.float())
        zq = np.clip(np.round(z.double().numpy()), -SUPPORT, SUPPORT).astype(np.int64)
        z_idx = np.broadcast_to(self.z_index.numpy().reshape(1, -1, 1, 1), zq.shape)
        tables.encode(encoder, zq, z_idx)
        bits = tables.estimate_bits(zq, z_idx)
        mu, log_scale = self._exact_params(zq, extra)
        step, log_step = self._steps(quality)
        q = quantize_symbols(y.double().numpy(), mu, step)
        idx = table_index(log_scale, log_step)
        tables.encode(encoder, q, idx)
        bits += tables.estimate_bits(q, idx)
        return torch.from_numpy(dequantize(q, mu, step)), bits

    def decompress(self, decoder, shape: tuple[int, int], quality: int, tables: Tables,
                   extra: torch.Tensor | None = None) -> torch.Tensor:
        """Inverse of `compress` for a latent of spatial size `shape`: exact y_hat float64."""
        h, w = shape
        zshape = (1, self.hyper, h >> self.z_down, w >> self.z_down)
        z_idx = np.broadcast_to(self.z_index.numpy().reshape(1, -1, 1, 1), zshape)
        zq = tables.decode(decoder, z_idx)
        mu, log_scale = self._exact_params(zq, extra)
        step, log_step = self._steps(quality)
        q = tables.decode(decoder, table_index(log_scale, log_step))
        return torch.from_numpy(dequantize(q, mu, step))

    def _exact_params(self, zq: np.ndarray, extra: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            mu, log_scale = self._params(torch.from_numpy(zq.astype(np.float64)), extra)
        return mu.numpy(), log_scale.numpy()
