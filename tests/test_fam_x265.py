"""Stage fam-x265: the release-3 FAM fine-tuned on x265-decoded maps writes keyed weights and resumes."""

import json

import pytest
import torch

from spikesci.data.synth import SynthConfig
from spikesci.models.codec.conventional import ConventionalFeatureCodec

pytestmark = pytest.mark.skipif(ConventionalFeatureCodec().video.availability() is not None,
                                reason="x265 is not in this FFmpeg build")


def test_fine_tune_writes_keyed_weights_and_resumes(tmp_path):
    from spikesci.models.zoo import load_reconstruction
    from spikesci.train.fam_x265 import FamX265Config, train

    per = load_reconstruction(caas=True)  # the FEM the x265 codec's FAM is keyed to
    cfg = FamX265Config(steps=2, batch=2, val_samples=1, workers=0, val_every=2, ckpt_every=2,
                        data=SynthConfig(size=64))
    summary = train(tmp_path, cfg, progress=False)
    assert summary["steps"] == 2 and set(summary["before"]) >= {"val_uncoded", "val_q1", "val_q5"}
    blob = torch.load(tmp_path / "fam.pt", weights_only=True)
    assert blob["kind"] == "fam-unet" and blob["fem_sha256"] == per.fem_checksum
    assert blob["codec_sha256"] == ConventionalFeatureCodec(per.channels).sha256
    moved = any(not torch.equal(v, per.fam.state_dict()[k]) for k, v in blob["state"].items())
    assert moved  # the EMA took a step away from the shipped FAM
    again = train(tmp_path, FamX265Config.from_dict({**json.loads((tmp_path / "config.json").read_text()),
                                                      "steps": 3}), resume=True, progress=False)
    assert again["steps"] == 3 and again["steps_this_run"] == 1


def test_a_damaged_checkpoint_is_one_clear_error(tmp_path):
    from spikesci.errors import SpikeSciError
    from spikesci.train.fam_x265 import FamX265Config, train

    (tmp_path / "ckpt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SpikeSciError, match="not a readable fam-x265 checkpoint"):
        cfg = FamX265Config(steps=1, batch=2, val_samples=1, workers=0)
        train(tmp_path, cfg, resume=True, progress=False)


def test_a_band_of_qualities_trains_only_those(tmp_path):
    import argparse

    import numpy as np

    from spikesci.cli.learned import _qualities
    from spikesci.train.fam_x265 import CodedWindows, FamX265Config

    coder = CodedWindows(None, None, np.random.default_rng(0), clean=0.0, qualities=(1, 2))
    assert coder.train_levels == [0, 1] and coder.levels == 5
    assert CodedWindows(None, None, np.random.default_rng(0), 0.0).train_levels == [0, 1, 2, 3, 4]
    assert FamX265Config.from_dict({**FamX265Config(qualities=(1, 2)).to_dict()}).qualities == (1, 2)
    assert _qualities("2,1") == (1, 2)
    for bad in ("0,1", "6", "a"):
        with pytest.raises(argparse.ArgumentTypeError):
            _qualities(bad)


def test_a_longer_training_gop_codes_every_map_and_hands_the_fam_its_window():
    """--gop 8: eight maps coded together (as streams code 32), the FAM gets the three around the middle,
    the middle one centred on the sample's middle frame (where its target is)."""
    import numpy as np

    from spikesci.models.zoo import load_perception
    from spikesci.train.fam_x265 import CodedWindows

    per = load_perception("perception-r3.4")  # a FAM of 3 maps
    codec = ConventionalFeatureCodec(per.channels)
    short = CodedWindows(per, codec, np.random.default_rng(0), clean=0.0)
    long = CodedWindows(per, codec, np.random.default_rng(0), clean=0.0, gop=8)
    assert short.frames() == 81 and long.frames() == 201 and long.gop == 8
    spikes = (torch.rand(1, 201, 64, 64) < 0.3).to(torch.uint8)
    maps = long.maps(spikes)
    assert maps.shape == (1, 8, 2, 64, 64)
    # the GOP's middle map is the short recipe's middle map: same window of spikes
    assert torch.equal(maps[0, 4], short.maps(spikes[:, 60:141])[0, 1])
    coded_long = long.code(maps[0], 1)
    coded_short = short.code(short.window(maps[0, 3:6]), 1)
    assert coded_long.shape == coded_short.shape == (3, 2, 64, 64)
    assert not torch.equal(coded_long, coded_short)  # inter-coded deep in a GOP: other artefacts
    assert torch.equal(long.code(maps[0], None), maps[0, 3:6])


def test_init_takes_a_release_on_the_caas_fem_and_refuses_another_fem():
    from spikesci.errors import SpikeSciError
    from spikesci.models.zoo import load_reconstruction
    from spikesci.train.fam_x265 import _init_perception

    caas = load_reconstruction(caas=True)
    grown = _init_perception("perception-r3.4", caas.fem_checksum)  # same FEM file, a 3-map FAM
    assert grown.maps == 3 and grown.fem_checksum == caas.fem_checksum
    with pytest.raises(SpikeSciError, match="not the CAAS model's FEM"):
        _init_perception("perception-r3", caas.fem_checksum)
    with pytest.raises(SpikeSciError, match="neither a run folder"):
        _init_perception("no-such-release", caas.fem_checksum)
