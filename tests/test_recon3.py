"""Perception release 3: the full-resolution FEM, the U-Net FAM, the training recipe and the zoo glue."""

import argparse
import json

import numpy as np
import pytest
import torch

from spikesci.data.synth import SynthConfig
from spikesci.errors import SpikeSciError
from spikesci.models.basenet import BaseNet
from spikesci.models.fam_unet import UNetFAM, UNetFAMConfig
from spikesci.models.fem_fullres import FullResFEM, FullResFEMConfig
from spikesci.models.layers import dihedral, undihedral
from spikesci.models.zoo import Perception
from spikesci.train.feed import ReuseBuffer
from spikesci.train.recon3 import (
    Recon3Config,
    Recon3Net,
    compact_checkpoint,
    frames_needed,
    run_cli,
)


def test_fem_keeps_full_resolution_and_few_values_per_pixel():
    fem = FullResFEM()
    x = (torch.rand(2, fem.config.window, 18, 22) < 0.3).to(torch.uint8)
    f = fem(x)
    assert f.shape == (2, 2, 18, 22)
    with pytest.raises(ValueError, match="spike windows"):
        fem(x[:, :5])


def test_fam_any_size_and_checks_its_input():
    fam = UNetFAM()
    y = fam(torch.randn(1, 3, 2, 25, 30))
    assert y.shape == (1, 1, 25, 30)
    with pytest.raises(ValueError, match="FAM expects"):
        fam(torch.randn(1, 2, 2, 8, 8))


def test_config_round_trip():
    cfg = Recon3Config()
    assert Recon3Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert UNetFAMConfig.from_dict(UNetFAMConfig().to_dict()) == UNetFAMConfig()
    assert frames_needed(FullResFEMConfig(), UNetFAMConfig()) == 81


def test_undihedral_inverts_every_view_of_a_non_square_image():
    x = torch.arange(2 * 3 * 5.0).reshape(2, 3, 5)
    for k in range(8):
        assert torch.equal(undihedral(dihedral(x, k), k), x)
    assert dihedral(x, 1).shape == (2, 5, 3)


def test_dihedral_is_a_group_of_eight():
    x = torch.arange(12.0).view(1, 3, 4)
    outs = {(tuple(dihedral(x, k).shape), tuple(dihedral(x, k).flatten().tolist())) for k in range(8)}
    assert len(outs) == 8


def test_reuse_buffer_uses_each_sample_twice():
    items = [(torch.full((1, 2, 2), float(i)), torch.full((1, 2, 2), float(i))) for i in range(40)]
    buf = ReuseBuffer(iter(items), batch=4, reuse=2, seed=0, size=8)
    seen = torch.cat([buf.next_batch()[0][:, 0, 0, 0] for _ in range(4)])
    assert buf.pulled >= 4 and len(seen) == 16
    counts = np.bincount(seen.long().numpy())
    assert counts.max() <= 2


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    net = Recon3Net(FullResFEM(), UNetFAM())
    spikes = (torch.rand(2, 81, 16, 16) < 0.3).float()
    target = spikes.mean(1, keepdim=True) / 0.6
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.l1_loss(net(spikes), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_laplacian_constraint_smooths_the_fem_maps():
    """--lap-weight adds the scale-free Laplacian penalty on the FEM's maps: trained with it alone, the maps
    get smoother (the penalty falls) and the image head still gets its gradient through the same pass."""
    from spikesci.models.extract import laplacian_loss

    torch.manual_seed(0)
    net = Recon3Net(FullResFEM(), UNetFAM())
    spikes = (torch.rand(2, 81, 16, 16) < 0.3).float()
    image, feats = net(spikes, with_features=True)
    assert image.shape == (2, 1, 16, 16) and feats.shape == (2, 3, 2, 16, 16)
    assert torch.equal(image, net(spikes))
    opt = torch.optim.Adam(net.fem.parameters(), lr=3e-3)
    first = laplacian_loss(feats.flatten(0, 1)).item()
    for _ in range(8):
        loss = laplacian_loss(net(spikes, with_features=True)[1].flatten(0, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first


def _args(out, stage="perception3", steps=2, resume=False):
    return argparse.Namespace(stage=stage, out=str(out), seed=0, device="cpu", steps=steps, batch=2, lr=None,
                              threads=1, extra_photos=None, minutes=None, val_dat=None, resume=resume,
                              no_progress=True)


def test_training_command_writes_weights_and_resumes(tmp_path, monkeypatch):
    import spikesci.train.recon3 as r3

    small = Recon3Config(val_samples=2, workers=0, ckpt_every=1, val_every=100,
                         data=SynthConfig(size=16))
    monkeypatch.setattr(r3, "Recon3Config", lambda **kw: Recon3Config(**{**small.__dict__, **kw}))
    monkeypatch.setattr(r3.Recon3Config, "from_dict", Recon3Config.from_dict, raising=False)
    s = run_cli(_args(tmp_path))
    assert s["steps"] == 2 and (tmp_path / "fem.pt").exists() and (tmp_path / "fam.pt").exists()
    mixed = _args(tmp_path, steps=3, resume=True)
    mixed.data_mix = "spike-reds"  # a resumed run may change its data mix and loss from then on
    mixed.loss = "mse"
    s = run_cli(mixed)
    assert s["steps"] == 3 and s["steps_this_run"] == 1
    assert json.loads((tmp_path / "config.json").read_text())["loss"] == "mse"
    data = json.loads((tmp_path / "config.json").read_text())["data"]
    assert data["photo_fraction"] == 0.5 and data["speeds"][1] == [0.8, 0.02, 0.3] and data["size"] == 16
    lap = _args(tmp_path / "lap", steps=1)
    lap.lap_weight = 0.02
    assert run_cli(lap)["steps"] == 1
    assert json.loads((tmp_path / "lap" / "config.json").read_text())["lap_weight"] == 0.02
    blob = torch.load(tmp_path / "fam.pt", weights_only=True)
    assert blob["kind"] == "fam-unet"
    # the small checkpoint kept in the repository continues a run without the optimizer state
    other = tmp_path / "next"
    other.mkdir()
    assert compact_checkpoint(tmp_path / "ckpt.pt", other / "ckpt.pt")["step"] == 3
    bigger = _args(other, steps=4, resume=True)
    bigger.crop = 24  # a resumed run may train on larger crops from then on
    s = run_cli(bigger)
    assert s["steps"] == 4 and s["steps_this_run"] == 1
    assert json.loads((other / "config.json").read_text())["data"]["size"] == 24
    bigger.crop = 30
    with pytest.raises(SpikeSciError, match="--crop must be a multiple of 8"):
        run_cli(bigger)
    # a new run grown from this one: a deeper FAM, its first weights the trained ones
    grown = tmp_path / "grown"
    args = _args(grown, steps=1)
    args.init, args.fam_blocks = str(tmp_path), (2, 1, 2)
    assert run_cli(args)["steps"] == 1
    saved = json.loads((grown / "config.json").read_text())
    assert saved["fam"]["blocks"] == [2, 1, 2] and saved["init"] == str(tmp_path)
    # its committed compact checkpoint continues with no other option: the shape comes from the checkpoint
    again = tmp_path / "grown-next"
    again.mkdir()
    compact_checkpoint(grown / "ckpt.pt", again / "ckpt.pt", ema_only=True)
    assert (again / "ckpt.pt").stat().st_size < 0.6 * (other / "ckpt.pt").stat().st_size
    assert run_cli(_args(again, steps=2, resume=True))["steps"] == 2


def test_reference_stage_trains_the_basenet(tmp_path, monkeypatch):
    import spikesci.train.recon3 as r3

    small = Recon3Config(val_samples=2, workers=0, ckpt_every=1, val_every=100, data=SynthConfig(size=16))
    monkeypatch.setattr(r3, "Recon3Config", lambda **kw: Recon3Config(**{**small.__dict__, **kw}))
    s = run_cli(_args(tmp_path, stage="reference", steps=1))
    blob = torch.load(tmp_path / "basenet.pt", weights_only=True)
    assert s["steps"] == 1 and blob["kind"] == "basenet" and not (tmp_path / "fem.pt").exists()
    args = _args(tmp_path / "lap", stage="reference", steps=1)
    args.lap_weight = 0.01  # the unsplit reference has no FEM maps to constrain: one clear error
    with pytest.raises(SpikeSciError, match="lap-weight"):
        run_cli(args)
    assert not (tmp_path / "lap").exists()


def test_perception_on_full_resolution_models_refuses_phases():
    perc = Perception(FullResFEM(), UNetFAM(), "r3")
    spikes = (np.random.default_rng(0).random((90, 20, 24)) < 0.3).astype(np.uint8)
    imgs, frames = perc.reconstruct(spikes, [45])
    assert imgs.shape == (1, 20, 24)
    with pytest.raises(SpikeSciError, match="full resolution"):
        perc.reconstruct(spikes, [45], phases=4)


def test_basenet_reads_the_centre_frames():
    net = BaseNet()
    assert net(torch.zeros(1, 81, 8, 8)).shape == (1, 1, 8, 8)


def test_shipped_release3_beats_tfp_on_a_small_held_out_clip():
    from dataclasses import replace

    from spikesci.data.synth import make_sample
    from spikesci.metrics import psnr
    from spikesci.models import zoo
    from spikesci.reconstruct import tfp

    assert zoo.RECONSTRUCT_MODEL in zoo.read_manifest()["models"]
    perc = zoo.load_reconstruction()
    assert perc.name == zoo.RECONSTRUCT_MODEL and perc.scale == 1
    cfg = replace(SynthConfig(size=48, split="validation"), speeds=((1.0, 0.02, 0.2),), dark=0.0, objects=0.0)
    gains = []
    for i in range(3):
        s = make_sample(cfg, i)
        centre = len(s.spikes) // 2
        net = perc.reconstruct(s.spikes, [centre])[0][0]
        gains.append(psnr(net, s.target) - psnr(tfp(s.spikes, centre), s.target))
    assert np.mean(gains) > 2.0
