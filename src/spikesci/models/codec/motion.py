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


def _pooled(cost: torch.Tensor, radius: int) -> torch.Tensor:
    """Box-filter (2r+1)^2 of every candidate's cost map (B, K, h, w), replicated borders."""
    return F.avg_pool2d(F.pad(cost, (radius,) * 4, mode="replicate"), 2 * radius + 1, stride=1)


def _best_offsets(cur: torch.Tensor, ref: torch.Tensor, radius: int, block: int, bias: float) -> torch.Tensor:
    """Integer flow (B, 2, h, w) minimising the block-pooled L1 cost over offsets in [-radius, radius]^2."""
    h, w = cur.shape[-2:]
    padded = F.pad(ref, (radius,) * 4, mode="replicate")
    offsets = [(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    cost = torch.cat([(cur - padded[..., radius + dy:radius + dy + h, radius + dx:radius + dx + w]).abs()
                      .mean(1, keepdim=True) for dx, dy in offsets], 1)
    penalty = torch.tensor([bias * (abs(dx) + abs(dy)) for dx, dy in offsets], dtype=cur.dtype)
    best = (_pooled(cost, block // 2) + penalty.view(1, -1, 1, 1)).argmin(1)  # (B, h, w)
    table = torch.tensor(offsets, dtype=cur.dtype)  # (K, 2)
    return table[best].permute(0, 3, 1, 2).contiguous()


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
    steps = [(dx, dy) for dy in (-1.0, -0.5, 0.0, 0.5, 1.0) for dx in (-1.0, -0.5, 0.0, 0.5, 1.0)]
    b, c, h, w = cur.shape
    cands = flow.unsqueeze(1) + torch.tensor(steps, dtype=flow.dtype).view(1, -1, 2, 1, 1)  # (B, K, 2, h, w)
    k = len(steps)
    warped = warp(ref.repeat_interleave(k, 0), cands.reshape(b * k, 2, h, w)).view(b, k, c, h, w)
    cost = _pooled((cur.unsqueeze(1) - warped).abs().mean(2), 2)  # (B, K, h, w)
    best = cost.argmin(1)  # (B, h, w)
    flow = torch.gather(cands, 1, best.view(b, 1, 1, h, w).expand(b, 1, 2, h, w))[:, 0]
    return F.avg_pool2d(F.pad(flow, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def _constant(flow: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return flow.view(1, 2, 1, 1).expand(like.shape[0], 2, *like.shape[-2:]).contiguous()


@torch.no_grad()
def global_motion(cur: torch.Tensor, ref: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """One translation for the whole map (B=1): the median of the local vectors, refined to a quarter pixel
    by the mean L1 warping error. Camera pans are the common case in real clips, and block matching on
    noisy feature maps scatters its vectors around them (measured on spike-REDS: the median alone halves
    the warping error of the local field)."""
    cur, ref = cur.float(), ref.float()
    best = local.flatten(2).median(2).values.view(2)
    for step in (0.5, 0.25):
        grid = torch.tensor([(dx, dy) for dy in (-step, 0.0, step) for dx in (-step, 0.0, step)])
        cands = best.view(1, 2) + grid  # (9, 2)
        k = cands.shape[0]
        warped = warp(ref.expand(k, *ref.shape[1:]), cands.view(k, 2, 1, 1).expand(k, 2, *ref.shape[-2:]))
        best = cands[(warped - cur).abs().mean(dim=(1, 2, 3)).argmin()]
    return _constant(best, cur)


@torch.no_grad()
def motion_candidates(cur: torch.Tensor, ref: torch.Tensor, search: int = 6) -> list[torch.Tensor]:
    """Flows worth trying for one predicted map (the encoder codes the one with the lowest rate-distortion
    cost; the decoder only reads the coded vectors, so this is free to change): the local block-matching
    field, a smoothed one, the global translation, and no motion (cheapest vectors, for static scenes or
    when the features' noise outweighs the motion)."""
    local = estimate_motion(cur, ref, search)
    smooth = F.avg_pool2d(F.pad(local, (7,) * 4, mode="replicate"), 15, stride=1)
    return [local, smooth, global_motion(cur, ref, local), torch.zeros_like(local)]
