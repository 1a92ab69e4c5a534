"""Bit accounting of `.sci` streams: parts sum to the file, payloads unchanged, both codecs."""

import numpy as np
import pytest
import torch

from spikesci import sci
from spikesci.models.codec import CodecConfig, FeatureCodec
from spikesci.models.codec.accounting import PARTS, account

SMALL = CodecConfig(hidden=16, latent=16, hyper=8, hyper_hidden=16, context=8, mv_hidden=8, mv_latent=4,
                    mv_hyper=4, fmvr_hidden=8)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from spikesci.models.zoo import load_perception

    per = load_perception()  # release 2: the learned codec's FEM
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("acc") / "codec.pt"
    FeatureCodec(CodecConfig(**{**SMALL.to_dict(), "channels": per.channels})).save(path)
    sm = sci.make_model(FeatureCodec.load(path), per, name="test-accounting")
    sci.register_model(sm)
    return sm


@pytest.mark.parametrize("motion", ["rdo", "local"])
def test_parts_sum_to_the_payload_which_is_unchanged(model, motion):
    rng = np.random.default_rng(0)
    feats = torch.from_numpy(rng.standard_normal((3, model.codec.config.channels, 16, 24)).astype(np.float32))
    payload, bits = account(model.codec, feats, 2, motion)
    plain, _ = model.codec.compress(feats, 2, flows=False, motion=motion)
    assert payload == plain and list(bits) == list(PARTS)
    assert sum(bits.values()) == 8 * len(payload)
    predicted = bits["inter latents"] + bits["inter hyperprior"] + bits["motion"] + bits["mode"]
    assert bits["intra latents"] > 0 and predicted > 0  # the 2 predicted maps cost something
    if motion == "local":  # no modes: every predicted map codes a motion field and its latents
        assert bits["motion"] > 0 and bits["mode"] == 0
    assert bits["headers"] >= 0


def test_encode_with_accounting_sums_to_the_file(model, tmp_path):
    rng = np.random.default_rng(1)
    spikes = (rng.random((100, 32, 40)) < 0.3).astype(np.uint8)
    st = sci.encode_spikes(spikes, tmp_path / "a.sci", 2, model="test-accounting", gop=2, account=True)
    assert sum(st["bits_by_part"].values()) == 8 * st["bytes"] and st["bits_by_part"]["container"] > 0
    plain = sci.encode_spikes(spikes, tmp_path / "b.sci", 2, model="test-accounting", gop=2)

    def chunks(path):
        with sci.open_stream(path) as reader:
            return [reader.read_chunk(i) for i in range(reader.num_chunks)]

    assert chunks(tmp_path / "a.sci") == chunks(tmp_path / "b.sci")  # accounting changes no coded byte
    # only the header differs: its random stream id deflates to a byte or two more or less
    assert abs(plain["bytes"] - st["bytes"]) <= 4
