"""Encoder-side motion estimation between F_t and the previous decoded map: coarse-to-fine block matching.

Why not a learned flow network: the estimate only has to be good for coding (its vectors are coded and the
decoder never runs it), it must work from the first training step, and it must stay light on the end side.
Block matching on the feature maps is vectorised over pixels (one pass per candidate offset), finds motion of
up to `search` feature pixels at quarter resolution and refines it at full resolution with a zero-motion bias.
Convention (shared with the FAM): warp(ref, flow) ~ cur, i.e. cur(p) ~ ref(p + flow(p)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spikesci.models.codec.exact import warp


def _shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """x sampled at p + (dx, dy) with replicated borders (integer shift)."""
    h, w = x.shape[-2:]
    p = max(abs(dx), abs(dy))
    xp = F.pad(x, (p, p, p, p), mode="replicate")
    return xp[..., p + dy:p + dy + h, p + dx:p + dx + w]


def _best_offsets(cur: torch.Tensor, ref: torch.Tensor, radius: int, block: int, bias: float) -> torch.Tensor:
    """Integer flow (B, 2, h, w) minimising the block-pooled L1 cost over offsets in [-radius, radius]^2."""
    best_cost = None
    best = torch.zeros(cur.shape[0], 2, *cur.shape[-2:], dtype=cur.dtype, device=cur.device)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            cost = (cur - _shift(ref, dx, dy)).abs().mean(1, keepdim=True)
            r = block // 2
            cost = F.avg_pool2d(F.pad(cost, (r,) * 4, mode="replicate"), 2 * r + 1, stride=1)
            cost = cost + bias * (abs(dx) + abs(dy))
            if best_cost is None:
                best_cost = cost
                continue
            better = cost < best_cost
            best_cost = torch.where(better, cost, best_cost)
            off = torch.tensor([dx, dy], dtype=cur.dtype, device=cur.device).view(1, 2, 1, 1)
            best = torch.where(better, off.expand_as(best), best)
    return best


@torch.no_grad()
def estimate_motion(cur: torch.Tensor, ref: torch.Tensor, search: int = 6) -> torch.Tensor:
    """Flow (B, 2, h, w) in feature pixels with warp(ref, flow) ~ cur; cur, ref (B, C, h, w)."""
    cur = cur.float()
    ref = ref.float()
    scale = 4 if min(cur.shape[-2:]) >= 16 else 1
    coarse_r = max(1, -(-search // scale))
    cur_c = F.avg_pool2d(cur, scale) if scale > 1 else cur
    ref_c = F.avg_pool2d(ref, scale) if scale > 1 else ref
    bias = 1e-3 * float(cur.abs().mean())
    flow = _best_offsets(cur_c, ref_c, coarse_r, 3, bias) * scale
    if scale > 1:
        flow = F.interpolate(flow, size=cur.shape[-2:], mode="nearest")
    # refine at full resolution around the coarse vectors, in half-pixel steps
    best_cost = None
    best = flow
    for dy in (-1.0, -0.5, 0.0, 0.5, 1.0):
        for dx in (-1.0, -0.5, 0.0, 0.5, 1.0):
            cand = flow + torch.tensor([dx, dy], dtype=flow.dtype).view(1, 2, 1, 1)
            cost = (cur - warp(ref, cand)).abs().mean(1, keepdim=True)
            cost = F.avg_pool2d(F.pad(cost, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
            if best_cost is None:
                best_cost, best = cost, cand
                continue
            better = cost < best_cost
            best_cost = torch.where(better, cost, best_cost)
            best = torch.where(better, cand, best)
    return F.avg_pool2d(F.pad(best, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
