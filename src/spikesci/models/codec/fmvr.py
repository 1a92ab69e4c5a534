"""FMVR (paper Eq. 8): refine decoded motion vectors against decoded feature content.

The decoded vectors v_hat are made for coding (they live where the latents live and carry block and
quantisation artefacts); the FAM needs vectors that agree with the feature content. A few small-kernel
convolutions look at v_hat, the decoded map F_hat_t and the warped reference W and add a correction:
v_ref = v_hat + f(v_hat, F_hat_t, W). It runs after decoding (cloud side) and is exact like the decoder,
so decoded flows are bit-identical across machines too.
"""

from __future__ import annotations

import torch
from torch import nn

from spikesci.models.codec.exact import Act, QConv, quant_flow


class FMVR(nn.Module):
    def __init__(self, channels: int, hidden: int = 16):
        super().__init__()
        self.body = nn.Sequential(QConv(2 + 2 * channels, hidden, 3), Act(), QConv(hidden, hidden, 3), Act(),
                                  QConv(hidden, 2, 3))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, v_hat: torch.Tensor, x_hat: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
        return quant_flow(v_hat + self.body(torch.cat([v_hat, x_hat, warped], 1)))
