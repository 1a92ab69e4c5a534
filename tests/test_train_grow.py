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


def test_a_fam_reading_more_maps_starts_where_the_source_ended(tmp_path):
    """--fam-maps 5 from a 3-map source: the centre maps keep the source's input weights, the outer ones
    start at zero, so the grown FAM computes the source's picture and can then learn to use the new maps."""
    fem, fam = _source(tmp_path)
    fam5 = UNetFAM(UNetFAMConfig(maps=5))
    assert grow_into(FullResFEM(FullResFEMConfig()), fam5, tmp_path) == []
    x = torch.rand(1, 5, 2, 20, 24)
    with torch.no_grad():
        assert torch.allclose(fam5(x), fam(x[:, 1:4]), atol=1e-5)
        assert not torch.allclose(fam5(x), fam(x[:, :3]), atol=1e-3)
    w = fam5.stem[0].weight
    assert w[:, :2].abs().sum() == 0 and w[:, 8:].abs().sum() == 0 and w[:, 2:8].abs().sum() > 0
    with pytest.raises(SpikeSciError, match="as many before as after"):
        grow_into(FullResFEM(FullResFEMConfig()), UNetFAM(UNetFAMConfig(maps=4)), tmp_path)


def test_freeze_fem_trains_the_fam_and_keeps_the_fem_bit_for_bit(tmp_path, monkeypatch):
    import argparse

    import spikesci.train.recon3 as r3
    from spikesci.data.synth import SynthConfig
    from spikesci.train.recon3 import Recon3Config, run_cli

    (tmp_path / "src").mkdir()
    _source(tmp_path / "src")
    small = Recon3Config(val_samples=2, workers=0, ckpt_every=1, val_every=100, data=SynthConfig(size=16))
    monkeypatch.setattr(r3, "Recon3Config", lambda **kw: Recon3Config(**{**small.__dict__, **kw}))
    args = argparse.Namespace(stage="perception3", out=str(tmp_path / "run"), seed=0, device="cpu", steps=2,
                              batch=2, lr=1e-3, threads=1, extra_photos=None, minutes=None, val_dat=None,
                              resume=False, no_progress=True, init=str(tmp_path / "src"), fam_maps=5,
                              freeze_fem=True)
    assert run_cli(args)["steps"] == 2
    before = torch.load(tmp_path / "src" / "fem.pt", weights_only=True)["state"]
    after = torch.load(tmp_path / "run" / "fem.pt", weights_only=True)["state"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    fam_before = torch.load(tmp_path / "src" / "fam.pt", weights_only=True)["state"]["head.weight"]
    fam_after = torch.load(tmp_path / "run" / "fam.pt", weights_only=True)
    assert fam_after["config"]["maps"] == 5 and not torch.equal(fam_before, fam_after["state"]["head.weight"])
    args.fam_maps, args.out = 4, str(tmp_path / "even")
    with pytest.raises(SpikeSciError, match="odd"):
        run_cli(args)
