"""FEM (end side): shapes, window layout, gradients, ablations, cost, and independence from the cloud side."""

import subprocess
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from spikesci.models.extract import FEM, FEMConfig, LightHead, laplacian, laplacian_loss


def _spikes(b=2, h=16, w=24, cfg=FEMConfig()):
    return (torch.rand(b, cfg.window, h, w) < 0.3).float()


def test_window_layout_matches_the_paper():
    cfg = FEMConfig()
    assert cfg.window == 46 and cfg.lookback == 39 and cfg.lookahead == 6
    fem = FEM(cfg)
    t = cfg.lookback
    v = fem.ventral.filters
    assert (v.lo, v.hi) == (t - 6, t + 7)  # TRF 13 centred on t
    d = fem.dorsal.filters
    assert (d.lo, d.hi) == (0, t + 1)  # 4 x 10 frames ending at t
    mask = d.mask[:, :, 0, 0]
    c = cfg.sub_channels
    for i in range(4):  # sub-filter i covers [t - 10 i - 9, t - 10 i]
        cols = torch.nonzero(mask[i * c]).ravel()
        assert cols.min().item() == t - 10 * i - 9 and cols.max().item() == t - 10 * i


def test_fem_shapes_and_every_parameter_gets_a_gradient():
    fem, head = FEM(), LightHead()
    x = _spikes()
    f = fem(x)
    assert f.shape == (2, 8, 8, 12)
    img = head(f)
    assert img.shape == (2, 1, 16, 24)
    with torch.no_grad():  # open the attention so its parameters are in the graph
        fem.ventral.attention.gamma.fill_(0.5)
        fem.dorsal.attention.gamma.fill_(0.5)
    loss = head(fem(x)).square().mean() + laplacian_loss(fem(x))
    loss.backward()
    for name, p in list(fem.named_parameters()) + list(head.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_frames_outside_the_window_do_not_exist_and_future_is_limited():
    fem = FEM().eval()
    x = _spikes(1)
    y = fem(x)
    x2 = x.clone()
    x2[:, -1] = 1 - x2[:, -1]  # frame t + 6 is inside the ventral TRF 13
    assert not torch.allclose(fem(x2), y)


def test_ablations_build_and_run():
    for cfg in (FEMConfig(dorsal=False), FEMConfig(pfu=False)):
        fem = FEM(cfg)
        assert fem(_spikes(1, 8, 8, cfg)).shape == (1, 8, 4, 4)
    assert FEM(FEMConfig(dorsal=False)).dorsal is None
    assert FEMConfig(dorsal=False).window == 13


def test_fem_is_light():
    fem = FEM()
    with FlopCounterMode(display=False) as fc:
        fem(_spikes(1, 32, 32))
    per_pixel = fc.get_total_flops() / (32 * 32)
    assert per_pixel < 6000, per_pixel
    assert sum(p.numel() for p in fem.parameters()) < 20_000


def test_laplacian_loss_is_scale_free_and_zero_on_flat_maps():
    f = torch.randn(2, 3, 10, 10)
    assert torch.allclose(laplacian_loss(f), laplacian_loss(5 * f + 2), rtol=5e-3)
    ramp = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 10, 10)
    assert laplacian(ramp)[..., 1:-1, 1:-1].abs().max() == 0


def test_end_side_imports_no_cloud_code():
    code = ("import sys, spikesci.models.extract; "
            "bad = [m for m in sys.modules if m in ('spikesci.models.analysis', 'spikesci.models.zoo')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_interval_rates_bit_registers_equal_counting():
    """The packed-register path and the counting path give the same numbers, dark pixels and spikes at the
    window edges included, on float and uint8 input."""
    from spikesci.models.extract import interval_rates

    g = torch.Generator().manual_seed(3)
    x = (torch.rand(2, 46, 9, 11, generator=g) < torch.rand(1, 1, 9, 11, generator=g) * 0.5).float()
    x[:, :, 0] = 0  # a dark row: fewer than 4 spikes
    x[:, 39, 1] = 1  # a spike exactly at t
    x[:, 40:, 2] = 0  # nothing ahead
    ref = interval_rates(x, 39, counts=True)
    assert torch.equal(interval_rates(x, 39), ref)
    assert torch.equal(interval_rates(x.to(torch.uint8), 39), ref)

