"""FAM (cloud side): flow chaining, AFR, shapes, gradients, the codec contract, ablations."""

import pytest
import torch

from spikesci.models.analysis import AFR, FAM, FAMConfig, FlowEstimator, chain_to_centre
from spikesci.models.layers import warp


def _constant_flows(b, n, h, w, fx, fy):
    flows = torch.zeros(b, n - 1, 2, h, w)
    flows[:, :, 0], flows[:, :, 1] = fx, fy
    return flows


def test_chain_to_centre_of_a_translation():
    flows = _constant_flows(1, 5, 8, 8, 0.5, -0.25)
    g = chain_to_centre(flows, 2)
    for k in range(5):
        # F_c ~ warp(F_k, g_k); with constant flows that is (c - k) steps of the flow
        assert torch.allclose(g[k][:, 0], torch.full((1, 8, 8), 0.5 * (2 - k)), atol=1e-5)
        assert torch.allclose(g[k][:, 1], torch.full((1, 8, 8), -0.25 * (2 - k)), atol=1e-5)


def test_contract_warp_of_map_k_matches_map_k_plus_1():
    """The codec's flows mean warp(F_k, flows[:, k]) ~ F_{k+1}; chain_to_centre then aligns them exactly."""
    x = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 1, 16, 16).contiguous()
    maps = [warp(x, torch.full((1, 2, 16, 16), float(k)) * torch.tensor([1.0, 0]).view(1, 2, 1, 1))
            for k in range(3)]  # each map shifted one more pixel
    flows = _constant_flows(1, 3, 16, 16, 1.0, 0.0)
    assert torch.allclose(warp(maps[0], flows[:, 0])[..., :12], maps[1][..., :12], atol=1e-5)
    g = chain_to_centre(flows, 1)
    assert torch.allclose(warp(maps[2], g[2])[..., 2:12], maps[1][..., 2:12], atol=1e-5)
    assert torch.allclose(warp(maps[0], g[0])[..., 2:12], maps[1][..., 2:12], atol=1e-5)


def test_flow_estimator_shape_and_gradient():
    est = FlowEstimator(8, 8)
    a, b = torch.randn(2, 8, 12, 16, requires_grad=True), torch.randn(2, 8, 12, 16)
    flow = est(a, b)
    assert flow.shape == (2, 2, 12, 16)
    assert torch.count_nonzero(flow) == 0  # zero-initialised heads: starts as "no motion"
    (warp(a, flow + 0.1) - b).square().mean().backward()
    assert est.fine[-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["both", "warp", "deform"])
def test_afr_modes(mode):
    afr = AFR(8, 12, mode)
    nb, c, fl = torch.randn(2, 8, 10, 10), torch.randn(2, 8, 10, 10), torch.randn(2, 2, 10, 10)
    out = afr(nb, c, fl)
    assert out.shape == (2, 12, 10, 10)
    out.sum().backward()


def test_fam_shapes_gradients_with_and_without_flows():
    cfg = FAMConfig(width=8, align_width=6, blocks=1, flow_width=8, offset_width=8)
    fam = FAM(cfg)
    feats = torch.randn(2, 5, 8, 12, 12, requires_grad=True)
    img = fam(feats)
    assert img.shape == (2, 1, 24, 24)
    flows = torch.zeros(2, 4, 2, 12, 12, requires_grad=True)
    img2 = fam(feats, flows)
    img2.mean().backward()
    assert feats.grad.abs().sum() > 0 and flows.grad is not None
    img.mean().backward()
    for name, p in fam.named_parameters():
        assert p.grad is not None, name


def test_fam_odd_feature_sizes_and_wrong_shapes():
    fam = FAM(FAMConfig(width=8, align_width=6, blocks=1, flow_width=8, offset_width=8, maps=3))
    assert fam(torch.randn(1, 3, 8, 7, 9)).shape == (1, 1, 14, 18)
    with pytest.raises(ValueError):
        fam(torch.randn(1, 5, 8, 7, 9))
