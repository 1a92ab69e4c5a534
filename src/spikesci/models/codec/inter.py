"""Inter coding, DCVC-style: motion, coded vectors, a feature-domain temporal context, contextual coding.

For F_t with the previous decoded map R:
  flow     = block matching (F_t, R)                        end side only (motion.py)
  v_hat    = mv_s(coded mv_a(flow)), quarter-pixel          exact; its own hyperprior
  W        = warp(R, v_hat); ctx = ctx_net(W)               exact temporal context (feature domain)
  y        = enc(F_t, ctx)                                  contextual encoder, end side
  mu,sigma = params(h_s(z_hat), prior_net(ctx))             hyperprior + temporal prior, exact
  F_hat_t  = W + fuse(dec(y_hat), ctx)                      contextual decoder, exact
Everything after the bits is exact (exact.py), so decoders on any machine rebuild the same R for t + 1.
"""

from __future__ import annotations

import torch
from torch import nn

from spikesci.models.codec.config import CodecConfig
from spikesci.models.codec.entropy import Tables
from spikesci.models.codec.exact import (
    Act,
    QConv,
    analysis_net,
    down_net,
    quant_act,
    quant_flow,
    up_net,
    up_stack,
    warp,
)
from spikesci.models.codec.hyperprior import HyperpriorCoder
from spikesci.models.codec.motion import estimate_motion


class InterCodec(nn.Module):
    """Motion-vector codec + contextual feature codec for one predicted map."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        c, n, yd = cfg.channels, cfg.hidden, cfg.y_down
        self.y_down, self.search = yd, cfg.search
        self.mv_a = analysis_net(2, cfg.mv_hidden, cfg.mv_latent, yd)
        self.mv_coder = HyperpriorCoder(cfg.mv_latent, cfg.mv_hidden, cfg.mv_hyper, cfg.z_down, cfg.qualities,
                                        step_range=(-0.5, 0.5))
        self.mv_s = up_net(cfg.mv_latent, cfg.mv_hidden, 2, yd, fine=8)
        nn.init.zeros_(self.mv_s[-1].weight)  # start from zero motion, not a saturated random field
        nn.init.zeros_(self.mv_s[-1].bias)
        self.ctx_net = nn.Sequential(QConv(c, cfg.context, 3), Act(), QConv(cfg.context, cfg.context, 3))
        self.enc = analysis_net(c + cfg.context, n, cfg.latent, yd)
        self.prior_net = down_net(cfg.context, n, n, yd)
        self.coder = HyperpriorCoder(cfg.latent, cfg.hyper_hidden, cfg.hyper, cfg.z_down, cfg.qualities,
                                     extra=n, step_range=(-1.0, 1.5))
        self.dec = up_stack(cfg.latent, n, cfg.fine, yd)
        self.fuse = nn.Sequential(QConv(cfg.fine + cfg.context, cfg.fine, 3), Act(), QConv(cfg.fine, c, 3))

    # -- shared pieces (exact in float64) ------------------------------------------------------------
    def _context(self, ref: torch.Tensor, v_hat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        warped = warp(ref, v_hat)
        ctx = self.ctx_net(warped)
        return warped, ctx, self.prior_net(ctx)

    def _synth(self, y_hat: torch.Tensor, warped: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return quant_act(warped + self.fuse(torch.cat([self.dec(y_hat), ctx], 1)))

    # -- training ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, ref: torch.Tensor, quality: int,
                flow: torch.Tensor | None = None) -> tuple:
        """(x_hat, v_hat, warped, [likelihoods]) for x (B, C, h, w) against the decoded reference.

        `flow`: motion estimated beforehand (training estimates all pairs of a GOP in one batch)."""
        if flow is None:
            flow = estimate_motion(x.detach(), ref.detach(), self.search)
        m_hat, lm_y, lm_z = self.mv_coder(self.mv_a(flow), quality)
        v_hat = quant_flow(self.mv_s(m_hat))
        warped, ctx, prior = self._context(ref, v_hat)
        y_hat, ly, lz = self.coder(self.enc(torch.cat([x, ctx], 1)), quality, extra=prior)
        return self._synth(y_hat, warped, ctx), v_hat, warped, [ly, lz, lm_y, lm_z]

    # -- real coding ---------------------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, x: torch.Tensor, ref: torch.Tensor, quality: int, encoder, tables: Tables,
                 flow: torch.Tensor | None = None, fixed: torch.Tensor | None = None,
                 skip: bool = False) -> tuple:
        """x (1, C, h, w), exact ref float64 -> (x_hat, v_hat, warped) exact float64, estimated bits.

        `flow`: the motion to code (default: block matching); any field decodes, only its cost differs.
        `fixed`: exact vectors the decoder already knows (global mode): no motion latents are coded.
        `skip` (with `fixed`): no feature latents either; the map is the motion-compensated reference."""
        if fixed is not None:
            v_hat, bits = fixed, 0.0
        else:
            if flow is None:
                flow = estimate_motion(x, ref, self.search)
            m_hat, bits = self.mv_coder.compress(self.mv_a(flow), quality, encoder, tables)
            v_hat = quant_flow(self.mv_s(m_hat))
        if skip:
            warped = warp(ref, v_hat)
            return quant_act(warped), v_hat, warped, bits
        warped, ctx, prior = self._context(ref, v_hat)
        y = self.enc(torch.cat([x.float(), ctx.float()], 1))
        y_hat, y_bits = self.coder.compress(y, quality, encoder, tables, extra=prior)
        return self._synth(y_hat, warped, ctx), v_hat, warped, bits + y_bits

    @torch.no_grad()
    def decompress(self, decoder, ref: torch.Tensor, quality: int, tables: Tables,
                   fixed: torch.Tensor | None = None, skip: bool = False) -> tuple:
        """Inverse of `compress`: (x_hat, v_hat, warped) exact float64."""
        h, w = ref.shape[-2:]
        shape = (h >> self.y_down, w >> self.y_down)
        if fixed is not None:
            v_hat = fixed
        else:
            m_hat = self.mv_coder.decompress(decoder, shape, quality, tables)
            v_hat = quant_flow(self.mv_s(m_hat))
        if skip:
            warped = warp(ref, v_hat)
            return quant_act(warped), v_hat, warped
        warped, ctx, prior = self._context(ref, v_hat)
        y_hat = self.coder.decompress(decoder, shape, quality, tables, extra=prior)
        return self._synth(y_hat, warped, ctx), v_hat, warped
