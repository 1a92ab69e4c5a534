import numpy as np
import pytest

from spikesci.lossless.baselines import GENERAL_CODECS, measure_general, order0_entropy


@pytest.fixture
def spikes():
    rng = np.random.default_rng(0)
    return (rng.random((20, 13, 17)) < 0.2).astype(np.uint8)


@pytest.mark.parametrize("name", ["gzip", "bz2", "xz", "zstd-19", "zstd-22", "zstd"])
def test_general_codecs_round_trip(name, spikes):
    compress, decompress = GENERAL_CODECS[name]
    data = bytes(range(256)) * 7
    assert decompress(compress(data)) == data
    m = measure_general(spikes, name)
    assert m["bytes"] > 0 and m["bpp"] == pytest.approx(8 * m["bytes"] / spikes.size)
    assert m["encode_mbps"] > 0 and m["decode_mbps"] > 0


def test_order0_entropy():
    assert order0_entropy(np.zeros((3, 4, 5), np.uint8)) == 0.0
    assert order0_entropy(np.ones((3, 4, 5), np.uint8)) == 0.0
    half = np.zeros((1, 2, 2), np.uint8)
    half[0, 0] = 1
    assert order0_entropy(half) == pytest.approx(1.0)
    x = np.zeros((1, 1, 8), np.uint8)
    x[0, 0, 0] = 1
    assert order0_entropy(x) == pytest.approx(-(1 / 8 * np.log2(1 / 8) + 7 / 8 * np.log2(7 / 8)))


def test_iid_spikes_near_entropy(spikes):
    # General codecs cannot beat the order-0 entropy of i.i.d. spikes by much.
    assert measure_general(spikes, "xz")["bpp"] > 0.9 * order0_entropy(spikes)


def test_unknown_codec(spikes):
    with pytest.raises(KeyError):
        measure_general(spikes, "rar")
