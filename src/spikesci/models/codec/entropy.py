"""Entropy models: Gaussian mean-scale likelihoods for training, fixed probability tables for real coding.

A latent y is coded as the integer q = round((y - mu) / step), clamped to [-SUPPORT, SUPPORT], with a
zero-mean Gaussian of scale sigma / step in symbol units. The scale picks one of TABLES probability tables
on a log grid (ln sigma in steps of 1/8). The table index is computed from exact inputs with IEEE basic
operations only (subtract, multiply, floor), and the tables are computed once at export with scipy and
stored with the weights: the decoder never evaluates a transcendental function, so it picks the same table
as the encoder on any machine. Symbols that share a table are coded together with one constriction
Categorical model (range coder), in raster order.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

SUPPORT = 127  # symbols -127..127
LOG_STEP = 8  # table grid: ln(sigma) = LOG_MIN + i / LOG_STEP
LOG_MIN = -2.25  # sigma ~ 0.105
TABLES = 52  # up to sigma ~ 60
SCALE_MIN = math.exp(LOG_MIN)
SCALE_MAX = math.exp(LOG_MIN + (TABLES - 1) / LOG_STEP)
LIKELIHOOD_MIN = 1e-9


def build_tables() -> np.ndarray:
    """(TABLES, 2*SUPPORT+1) float64 probabilities of a quantised zero-mean Gaussian per scale (export)."""
    from scipy.special import ndtr

    sigma = np.exp(LOG_MIN + np.arange(TABLES) / LOG_STEP)[:, None]
    k = np.arange(-SUPPORT, SUPPORT + 1)[None, :]
    upper = ndtr((k + 0.5) / sigma)
    lower = ndtr((k - 0.5) / sigma)
    upper[:, -1] = 1.0
    lower[:, 0] = 0.0
    p = np.maximum(upper - lower, 2.0**-20)
    return p / p.sum(1, keepdims=True)


def table_index(log_scale: np.ndarray, log_step: np.ndarray) -> np.ndarray:
    """Table index from an exact log-scale (y units) and the stored ln(step): IEEE basic ops only."""
    v = (np.asarray(log_scale, np.float64) - np.asarray(log_step, np.float64) - LOG_MIN) * LOG_STEP
    return np.clip(np.floor(v + 0.5), 0, TABLES - 1).astype(np.int64)


def gaussian_likelihood(q: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """P(q) under a zero-mean Gaussian of scale exp(log_scale), integrated over [q-0.5, q+0.5] (training)."""
    sigma = torch.exp(log_scale.clamp(LOG_MIN, LOG_MIN + (TABLES - 1) / LOG_STEP))
    upper = 0.5 * torch.erfc(-(q + 0.5) / (sigma * math.sqrt(2)))
    lower = 0.5 * torch.erfc(-(q - 0.5) / (sigma * math.sqrt(2)))
    return (upper - lower).clamp_min(LIKELIHOOD_MIN)


class Tables:
    """Stored probability tables and their constriction models (built lazily, one per table)."""

    def __init__(self, probs: np.ndarray):
        self.probs = np.asarray(probs, dtype=np.float64)
        self.bits = -np.log2(self.probs)
        self._models: dict[int, object] = {}

    def model(self, i: int):
        import constriction

        if i not in self._models:
            self._models[i] = constriction.stream.model.Categorical(self.probs[i], perfect=False)
        return self._models[i]

    def estimate_bits(self, symbols: np.ndarray, index: np.ndarray) -> float:
        """Ideal code length of `symbols` (integers in -SUPPORT..SUPPORT) under their tables."""
        return float(self.bits[index.ravel(), symbols.ravel() + SUPPORT].sum())

    def encode(self, encoder, symbols: np.ndarray, index: np.ndarray) -> None:
        """Append `symbols` to a constriction RangeEncoder, grouped by table in raster order."""
        s = symbols.ravel().astype(np.int32) + SUPPORT
        idx = index.ravel()
        for i in np.unique(idx):
            encoder.encode(np.ascontiguousarray(s[idx == i]), self.model(int(i)))

    def decode(self, decoder, index: np.ndarray) -> np.ndarray:
        """Inverse of `encode`: integer symbols shaped like `index`."""
        idx = index.ravel()
        out = np.zeros(idx.shape, dtype=np.int64)
        for i in np.unique(idx):
            sel = idx == i
            out[sel] = np.asarray(decoder.decode(self.model(int(i)), int(sel.sum())), dtype=np.int64)
        return (out - SUPPORT).reshape(index.shape)


@lru_cache(maxsize=8)
def uniform_model(size: int):
    """A constriction model with `size` equally likely symbols (side information: table indices, modes,
    vectors). Built from a fixed float vector, so encoder and decoder quantise it identically."""
    import constriction

    return constriction.stream.model.Categorical(np.full(size, 1.0 / size), perfect=False)


def quantize_symbols(y: np.ndarray, mu: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Encoder side: integer symbols round((y - mu) / step), clamped to the table support."""
    return np.clip(np.round((y - mu) / step), -SUPPORT, SUPPORT).astype(np.int64)


def dequantize(q: np.ndarray, mu: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Both sides: y_hat = mu + q * step in float64 (IEEE basic ops on exact inputs: deterministic)."""
    return np.asarray(mu, np.float64) + q.astype(np.float64) * np.asarray(step, np.float64)
