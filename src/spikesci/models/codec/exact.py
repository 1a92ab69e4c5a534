"""Dyadic (integer) layers: networks whose float64 evaluation is exact, so decoding is bit-identical anywhere.

Why: a learned codec's decoder recomputes the entropy model's tables and the next frame's reference from
network outputs. If those differ by one ulp between the encoding and the decoding machine (another BLAS,
summation order, SIMD width, FMA, thread count), the range decoder desynchronises and returns garbage.

How: every number on a decoder path is a dyadic rational with few significant bits.
- Weights are k / 2^a_o with |k| <= 2047 (12 bits) and one exponent a_o per output channel.
- Activations are m / 2^10 with |m| <= 2^18 (clamped to +-256): every layer re-quantises its input and its
  output onto this grid (round half to even, an exact and deterministic operation).
- Biases are integers times 2^-(a_o + 10).
In float64, each product (m/2^10)(k/2^a_o) is an integer multiple of 2^-(a_o+10) below 2^29 units, and a sum
of Cin*kh*kw <= 2^23 of them stays below 2^52 units: every partial sum, in any order, with or without FMA,
is exactly representable. The convolution therefore has one possible result, whatever the library does.
The only nonlinearity is LeakyReLU with slope 1/8 (exact), and upsampling is a convolution followed by
pixel shuffle (pure data movement). Training uses the same layers in float32 with fake quantisation and a
straight-through estimator, so the exported integer network behaves like the trained one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ACT_BITS = 10
ACT_SCALE = float(1 << ACT_BITS)
ACT_MAX = 256.0
WEIGHT_MAX = 2047
EXACT_LIMIT = 2.0**52
FLOW_BITS = 2  # flows are quarter-pixel
FLOW_MAX = 64.0


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def quant_act(x: torch.Tensor, bits: int = ACT_BITS, limit: float = ACT_MAX) -> torch.Tensor:
    """Onto the grid m / 2^bits, clamped to +-limit: exact in float64, fake-quantised (STE) in float32."""
    scale = float(1 << bits)
    if x.dtype == torch.float64:
        return torch.clamp(torch.round(x * scale) / scale, -limit, limit)
    return torch.clamp(ste_round(x * scale) / scale, -limit, limit)


def weight_exponents(weight: torch.Tensor) -> torch.Tensor:
    """Per output channel a_o = the largest exponent with max|w| * 2^a_o <= WEIGHT_MAX (capped to 0..24)."""
    peak = weight.detach().abs().flatten(1).amax(1).clamp_min(1e-12).double()
    return torch.floor(torch.log2(WEIGHT_MAX / peak)).clamp(0, 24)


class QConv(nn.Conv2d):
    """Conv2d whose float64 forward is exact integer arithmetic (see module docstring), float32 is fake-quant.

    Call `freeze()` (done by the codec on load/export) to fix the integer weights; the float64 path then uses
    only those, so a model loaded from a file decodes identically on every machine.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2)
        if cin * kernel * kernel * WEIGHT_MAX * ACT_MAX * ACT_SCALE >= EXACT_LIMIT:
            raise ValueError("layer too wide for exact float64 evaluation")
        self.register_buffer("w_int", torch.zeros(0), persistent=False)
        self.register_buffer("b_int", torch.zeros(0), persistent=False)
        self.register_buffer("w_exp", torch.zeros(0), persistent=False)
        self.w64 = self.b64 = None

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Integer weights k, integer biases (units 2^-(a+10)) and exponents a, from the float parameters."""
        a = weight_exponents(self.weight)
        scale = torch.tensor([math.ldexp(1.0, int(e)) for e in a], dtype=torch.float64)
        k = torch.round(self.weight.detach().double() * scale.view(-1, 1, 1, 1))
        k = k.clamp(-WEIGHT_MAX, WEIGHT_MAX)
        b = torch.round(self.bias.detach().double() * scale * ACT_SCALE).clamp(-(2.0**50), 2.0**50)
        return k, b, a

    def set_integers(self, k: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> None:
        """Install integer weights; scales are exact powers of two (math.ldexp), never a libm call."""
        exps = [int(e) for e in a]
        self.w_int, self.b_int, self.w_exp = k.double(), b.double(), torch.tensor(exps, dtype=torch.float64)
        w_scale = torch.tensor([math.ldexp(1.0, -e) for e in exps], dtype=torch.float64)
        b_scale = torch.tensor([math.ldexp(1.0, -e - ACT_BITS) for e in exps], dtype=torch.float64)
        self.w64 = self.w_int * w_scale.view(-1, 1, 1, 1)
        self.b64 = self.b_int * b_scale

    def freeze(self) -> None:
        self.set_integers(*self.quantized())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = quant_act(x)
        if x.dtype == torch.float64:
            if self.w_int.numel() == 0:
                self.freeze()
            y = F.conv2d(x, self.w64, self.b64, self.stride, self.padding)
        else:
            a = weight_exponents(self.weight).to(self.weight.dtype).view(-1, 1, 1, 1)
            scale = torch.pow(2.0, a)
            w = torch.clamp(ste_round(self.weight * scale), -WEIGHT_MAX, WEIGHT_MAX) / scale
            bscale = scale.view(-1) * ACT_SCALE
            b = ste_round(self.bias * bscale) / bscale
            y = F.conv2d(x, w, b, self.stride, self.padding)
        return quant_act(y)


class Act(nn.Module):
    """LeakyReLU with slope 1/8: exact on dyadic inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, x, x * 0.125)


class Up(nn.Module):
    """x2 upsampling: exact conv to 4x channels, then pixel shuffle (data movement only)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = QConv(cin, cout * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


def down_net(cin: int, hidden: int, cout: int, steps: int) -> nn.Sequential:
    """`steps` stride-2 convolutions (3x3) with activations between them."""
    layers: list[nn.Module] = []
    c = cin
    for i in range(steps):
        last = i == steps - 1
        layers.append(QConv(c, cout if last else hidden, 3, stride=2))
        if not last:
            layers.append(Act())
        c = hidden
    return nn.Sequential(*layers)


def up_stack(cin: int, hidden: int, fine: int, steps: int) -> nn.Sequential:
    """`steps` x2 upsamplings with activations; the last (full resolution, costly) has `fine` channels."""
    layers: list[nn.Module] = []
    c = cin
    for i in range(steps):
        out = fine if i == steps - 1 else hidden
        layers += [Up(c, out), Act()]
        c = out
    return nn.Sequential(*layers)


def up_net(cin: int, hidden: int, cout: int, steps: int, fine: int | None = None) -> nn.Sequential:
    """`steps` x2 upsamplings then a 3x3 convolution to `cout` channels."""
    fine = hidden if fine is None else fine
    return nn.Sequential(*up_stack(cin, hidden, fine, steps), QConv(fine if steps else cin, cout, 3))


def analysis_net(cin: int, hidden: int, cout: int, steps: int) -> nn.Sequential:
    """End-side analysis: a strided 3x3 convolution straight from the input (light at full resolution),
    then `steps - 1` more stride-2 convolutions."""
    if steps < 1:
        raise ValueError("analysis needs at least one downsampling")
    if steps == 1:
        return nn.Sequential(QConv(cin, cout, 3, stride=2))
    return nn.Sequential(QConv(cin, hidden, 3, stride=2), Act(), down_net(hidden, hidden, cout, steps - 1))


def quant_flow(flow: torch.Tensor) -> torch.Tensor:
    """Flows onto the quarter-pixel grid, clamped to +-FLOW_MAX px."""
    return quant_act(flow, FLOW_BITS, FLOW_MAX)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out[p] = x[p + flow[p]] with bilinear weights and replicated borders.

    flow (B, 2, h, w) holds (dx, dy) in pixels. In float64 with quarter-pixel flows the bilinear weights are
    multiples of 1/16 and the result is exact (integer gathers, four products, no reductions of varying
    order); in float32 it is differentiable in x and in the flow.
    """
    b, c, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w)
    px = (xs + flow[:, 0]).clamp(0, w - 1)
    py = (ys + flow[:, 1]).clamp(0, h - 1)
    x0 = torch.floor(px).detach()
    y0 = torch.floor(py).detach()
    fx = (px - x0).unsqueeze(1)
    fy = (py - y0).unsqueeze(1)
    x0i = x0.long()
    y0i = y0.long()
    x1i = (x0i + 1).clamp(max=w - 1)
    y1i = (y0i + 1).clamp(max=h - 1)
    flat = x.reshape(b, c, h * w)

    def gather(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        idx = (yi * w + xi).view(b, 1, h * w).expand(b, c, h * w)
        return torch.gather(flat, 2, idx).view(b, c, h, w)

    top = gather(y0i, x0i) * (1 - fx) + gather(y0i, x1i) * fx
    bottom = gather(y1i, x0i) * (1 - fx) + gather(y1i, x1i) * fx
    return top * (1 - fy) + bottom * fy


def freeze_all(module: nn.Module) -> None:
    """Fix the integer weights of every QConv in `module` (after training or loading)."""
    for m in module.modules():
        if isinstance(m, QConv):
            m.freeze()


def unfreeze_all(module: nn.Module) -> None:
    """Drop cached integer weights (before training changes the float parameters)."""
    for m in module.modules():
        if isinstance(m, QConv):
            m.w_int = torch.zeros(0)


def exact_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The integer weights of every QConv, to be stored with the model (never recomputed on load)."""
    out: dict[str, torch.Tensor] = {}
    for name, m in module.named_modules():
        if isinstance(m, QConv):
            if m.w_int.numel() == 0:
                m.freeze()
            out[f"{name}.k"] = m.w_int.to(torch.int16)
            out[f"{name}.b"] = m.b_int.to(torch.int64)
            out[f"{name}.a"] = m.w_exp.to(torch.int8)
    return out


def load_exact_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Install stored integer weights; the float64 path then depends on nothing else."""
    for name, m in module.named_modules():
        if isinstance(m, QConv):
            m.set_integers(state[f"{name}.k"], state[f"{name}.b"], state[f"{name}.a"])
