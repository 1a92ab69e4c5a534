"""Residual refinement for the top qualities: scalar-quantised feature residual after the learned layer.

A small learned transform has a reconstruction floor (the FAM is sensitive to smooth feature errors), so the
highest qualities add an enhancement layer: r = F - F_hat is quantised with a fixed per-quality step and coded
with a zero-mean Gaussian table per channel, whose index the encoder picks from the residual itself and
sends (one symbol per channel). The decoder forms quant_act(F_hat + q * step): IEEE basic operations on
exact values, so it stays bit-exact, and the refined map is the reference of the next inter map.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from spikesci.models.codec.entropy import SUPPORT, TABLES, Tables, table_index, uniform_model
from spikesci.models.codec.exact import quant_act


def encode_residual(x: torch.Tensor, x_hat: torch.Tensor, step: float, h: int, w: int, encoder,
                    tables: Tables) -> tuple[torch.Tensor, float]:
    """Code the residual of the visible region; returns (refined exact x_hat, estimated bits)."""
    r = (x.double() - x_hat)[..., :h, :w].numpy()
    c = r.shape[1]
    spread = np.sqrt(np.mean(r**2, axis=(0, 2, 3))) / step + 1e-9
    idx_c = table_index(np.log(spread), np.zeros(c)).astype(np.int32)
    encoder.encode(idx_c, uniform_model(TABLES))
    q = np.clip(np.round(r / step), -SUPPORT, SUPPORT).astype(np.int64)
    idx = np.broadcast_to(idx_c.reshape(1, c, 1, 1).astype(np.int64), q.shape)
    tables.encode(encoder, q, idx)
    bits = c * math.log2(TABLES) + tables.estimate_bits(q, idx)
    return _apply(x_hat, q, step, h, w), bits


def decode_residual(x_hat: torch.Tensor, step: float, h: int, w: int, decoder,
                    tables: Tables) -> torch.Tensor:
    """Inverse of `encode_residual`."""
    c = x_hat.shape[1]
    idx_c = np.asarray(decoder.decode(uniform_model(TABLES), c), dtype=np.int64)
    idx = np.broadcast_to(idx_c.reshape(1, c, 1, 1), (x_hat.shape[0], c, h, w))
    q = tables.decode(decoder, idx)
    return _apply(x_hat, q, step, h, w)


def _apply(x_hat: torch.Tensor, q: np.ndarray, step: float, h: int, w: int) -> torch.Tensor:
    out = x_hat.clone()
    out[..., :h, :w] = quant_act(x_hat[..., :h, :w] + torch.from_numpy(q.astype(np.float64) * step))
    return out


def default_steps(qualities: int) -> list[float]:
    """Residual steps per quality (0 = off): only the top quality is refined by default."""
    return [0.0] * (qualities - 1) + [2.0**-5]

