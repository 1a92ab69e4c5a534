"""A folded learned codec (CodecConfig.fold = 2): full-resolution maps in and out, bit-exact round trip."""

import pytest
import torch

from spikesci.errors import ConfigError, ContainerError, ModelMismatchError
from spikesci.models.codec import CodecConfig, FeatureCodec


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return FeatureCodec(CodecConfig(fold=2)).eval()


def test_folded_codec_round_trips_odd_sized_full_resolution_maps(codec):
    assert codec.config.in_channels == 2
    x = torch.randn(3, 2, 37, 50) * 0.3
    payload, info = codec.compress(x, 1)
    out = codec.decompress(payload, expect=(3, 37, 50))
    assert out["x_hat"].shape == (3, 2, 37, 50) and out["flows"].shape == (2, 2, 37, 50)
    assert torch.equal(out["x_hat"], info["x_hat"])  # the decoder rebuilds what the encoder kept
    with pytest.raises(ContainerError, match="the header says"):
        codec.decompress(payload, expect=(3, 36, 50))
    with pytest.raises(Exception, match="codec expects"):
        codec.compress(torch.zeros(2, 8, 16, 16), 1)  # folded channels are the codec's business


def test_folded_forward_returns_the_input_layout(codec):
    x = torch.randn(2, 3, 2, 32, 48)
    res = codec(x, 0)
    assert res["x_hat"].shape == x.shape and res["flows"].shape == (2, 2, 2, 32, 48)
    assert res["bits"].item() > 0


def test_codec3_stage_warm_starts_a_folded_codec_on_the_caas_fem(tmp_path):
    from spikesci.models.zoo import load_reconstruction
    from spikesci.train.codec_fold import TRAINED_THROUGH, run_stage

    summary = run_stage(tmp_path, steps=2, batch=2, progress=False, workers=0)
    trained = FeatureCodec.load(summary["out"])
    per = load_reconstruction(caas=True)
    assert trained.config.fold == 2 and trained.config.in_channels == per.channels
    assert trained.meta["fem_sha256"] == per.fem_checksum and trained.meta["perception"] == TRAINED_THROUGH
    with pytest.raises(ConfigError, match="no such codec file"):
        run_stage(tmp_path / "b", steps=1, init=tmp_path / "missing.pt", progress=False, workers=0)
    (tmp_path / "junk.pt").write_bytes(b"not a codec")
    with pytest.raises(ModelMismatchError, match="not a saved torch file"):
        run_stage(tmp_path / "c", steps=1, init=tmp_path / "junk.pt", progress=False, workers=0)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
