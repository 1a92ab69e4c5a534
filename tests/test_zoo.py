"""Shipped weights: checksums verified, pipeline API, and the learned net beats TFP on a held-out clip."""

import json
import shutil

import numpy as np
import pytest
import torch

from spikesci.errors import ModelMismatchError, SpikeSciError
from spikesci.metrics import psnr
from spikesci.models import zoo
from spikesci.models.zoo import _mirror, load_perception
from spikesci.reconstruct import tfp
from spikesci.simulate.scenes import make_scene, preset


@pytest.fixture(scope="module")
def perc():
    return load_perception()


def test_manifest_lists_checksums_and_the_command():
    entry = zoo.read_manifest()["models"]["perception"]
    assert set(entry["files"]) == {"fem", "fam"}
    assert entry["command"].count("spikesci train") >= 2 and "seed" in entry
    for f, digest in entry["sha256"].items():
        assert zoo.sha256_file(zoo.WEIGHTS_DIR / f) == digest


def test_damaged_or_missing_weights_are_refused(tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(zoo.WEIGHTS_DIR, folder)
    fem_file = folder / zoo.read_manifest(folder)["models"]["perception"]["files"]["fem"]
    data = bytearray(fem_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    fem_file.write_bytes(bytes(data))
    with pytest.raises(ModelMismatchError, match="checksum"):
        load_perception("perception", str(folder))
    fem_file.unlink()
    with pytest.raises(SpikeSciError, match="missing"):
        load_perception("perception", str(folder))
    with pytest.raises(SpikeSciError, match="unknown model"):
        load_perception("nope", str(folder))
    (folder / "manifest.json").unlink()
    with pytest.raises(SpikeSciError, match="manifest"):
        load_perception("perception", str(folder))


def test_extract_and_analyze_shapes(perc):
    spikes = (np.random.default_rng(0).random((150, 22, 31)) < 0.3).astype(np.uint8)
    feats, frames = perc.extract(spikes)
    assert np.array_equal(frames, np.arange(perc.lookback, 150 - perc.lookahead, perc.stride))
    assert feats.shape == (len(frames), perc.channels, 11, 16)
    window = feats[:perc.maps]
    with torch.no_grad():
        img = perc.analyze(window)
        img2 = perc.analyze(window, torch.zeros(perc.maps - 1, 2, 11, 16))
    assert img.shape == img2.shape == (1, 1, 22, 32)
    images, at = perc.reconstruct(spikes, frames=[0, 60, 149])
    assert images.shape == (3, 22, 31) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1 and list(at) == [0, 60, 149]
    with pytest.raises(SpikeSciError):
        perc.reconstruct(spikes, frames=[150])


def test_mirror_keeps_indices_inside():
    idx = _mirror(np.arange(-5, 15), 10)
    assert idx.min() >= 0 and idx.max() <= 9 and idx[5] == 0 and idx[-1] == 4


def test_net_beats_tfp_on_a_heldout_scene(perc):
    frames = 161
    cfg = preset("slow", height=64, width=96, frames=frames, split="heldout")
    scene = make_scene(cfg, seed=9_100_001)
    c = frames // 2
    net = perc.reconstruct(scene.spikes, [c])[0][0]
    gt = scene.luminance[c]
    assert psnr(net, gt) > psnr(tfp(scene.spikes, c), gt) + 0.5


def test_four_phases_shift_the_block_grid_and_do_not_hurt(perc):
    frames = 161
    cfg = preset("slow", height=45, width=63, frames=frames, split="heldout")
    scene = make_scene(cfg, seed=9_100_002)
    c = frames // 2
    feats, _ = perc.extract(scene.spikes, [c], phase=(1, 0))
    assert feats.shape[-2:] == (23, 32)  # one padded row on top: 46 rows -> 23, 63 columns -> 32
    one = perc.reconstruct(scene.spikes, [c])[0][0]
    assert np.array_equal(one, perc.reconstruct(scene.spikes, [c], phases=1)[0][0])
    four = perc.reconstruct(scene.spikes, [c], phases=4)[0][0]
    assert four.shape == (45, 63) and 0 <= four.min() and four.max() <= 1
    assert not np.allclose(one, four)
    gt = scene.luminance[c]
    assert psnr(four, gt) > psnr(one, gt) - 0.1
    with pytest.raises(SpikeSciError, match="phases"):
        perc.reconstruct(scene.spikes, [c], phases=2)


def test_manifest_is_valid_json():
    json.loads((zoo.WEIGHTS_DIR / "manifest.json").read_text())
