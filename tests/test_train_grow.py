"""train.grow: a release-3 run started from trained weights with a deeper FAM computes what they did."""

import pytest
import torch

from spikesci.errors import SpikeSciError
from spikesci.models.fam_unet import UNetFAM, UNetFAMConfig
from spikesci.models.fem_fullres import FullResFEM, FullResFEMConfig
from spikesci.train.grow import grow_into
from spikesci.train.recon3 import save_release


def _source(tmp_path, blocks=(1, 1, 2)):
    torch.manual_seed(0)
    fem, fam = FullResFEM(FullResFEMConfig()), UNetFAM(UNetFAMConfig(blocks=blocks))
    for p in fam.parameters():  # trained weights are not zero anywhere: make every block count
        torch.nn.init.normal_(p, std=0.05)
    save_release(tmp_path / "fem.pt", "fem-fullres", fem.config, fem.state_dict())
    save_release(tmp_path / "fam.pt", "fam-unet", fam.config, fam.state_dict())
    return fem, fam


def test_a_deeper_fam_starts_exactly_where_the_source_ended(tmp_path):
    fem, fam = _source(tmp_path)
    fem2, fam2 = FullResFEM(FullResFEMConfig()), UNetFAM(UNetFAMConfig(blocks=(2, 2, 3)))
    new = grow_into(fem2, fam2, tmp_path)
    assert new == ["enc0.1", "enc1.1", "enc2.2"]
    x = torch.rand(1, 3, 2, 20, 24)
    with torch.no_grad():
        assert torch.allclose(fam2(x), fam(x), atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(fem.state_dict().values(), fem2.state_dict().values()))
    assert fam2.enc0[1].c1.weight.abs().sum() > 0  # only the last layer of a new block is zero: it can learn


def test_growing_refuses_a_smaller_or_wider_fam_in_one_error(tmp_path):
    _source(tmp_path, blocks=(2, 2, 3))
    with pytest.raises(SpikeSciError, match="grow, not shrink"):
        grow_into(FullResFEM(FullResFEMConfig()), UNetFAM(UNetFAMConfig()), tmp_path)
    with pytest.raises(SpikeSciError, match="widths"):
        wider = UNetFAM(UNetFAMConfig(widths=(16, 64, 96), blocks=(2, 2, 3)))
        grow_into(FullResFEM(FullResFEMConfig()), wider, tmp_path)
    with pytest.raises(SpikeSciError, match="neither a run folder"):
        grow_into(FullResFEM(FullResFEMConfig()), UNetFAM(UNetFAMConfig()), tmp_path / "nope")
