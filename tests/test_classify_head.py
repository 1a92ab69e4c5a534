"""The classification FAM head: shapes, training lowers the loss, checkpoints, feature resizing."""

import numpy as np
import pytest
import torch

from spikesci.models.classify import ClassifyHead, HeadConfig, head_from_state, head_state
from spikesci.tasks.classify import _fit_size
from spikesci.tasks.features import TfpSource, get_source
from spikesci.train.classify_stage import ClassifyTrainConfig, fit, predict_logits, train_step


def _head(**kw) -> ClassifyHead:
    torch.manual_seed(0)
    return ClassifyHead(HeadConfig(in_channels=8, num_classes=5, width=8, **kw))


@pytest.mark.parametrize("temporal", ["attention", "mean"])
def test_shapes(temporal):
    head = _head(temporal=temporal).eval()
    assert head(torch.randn(3, 4, 8, 16, 16)).shape == (3, 5)
    assert head(torch.randn(2, 8, 20, 12)).shape == (2, 5)  # one map per sample, any size
    with pytest.raises(ValueError):
        head(torch.randn(2, 3, 7, 16, 16))


def test_training_step_lowers_loss_and_learns_a_toy_task():
    torch.manual_seed(1)
    x = torch.randn(40, 2, 8, 8, 8)
    y = torch.arange(40) % 5
    x[torch.arange(40), :, y] += 3.0  # the class is which channel is bright
    head = _head()
    head.set_normalisation(x)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    first = train_step(head, opt, x, y)
    for _ in range(15):
        last = train_step(head, opt, x, y)
    assert last < 0.7 * first
    result = fit(
        _head(), (x, y), (x, y), ClassifyTrainConfig(epochs=6, batch_size=8, lr=3e-3), progress=False
    )
    assert result["best_val_accuracy"] > 0.5 and len(result["history"]) == 6


def test_checkpoint_roundtrip(tmp_path):
    head = _head().eval()
    head.set_normalisation(torch.rand(4, 2, 8, 6, 6) * 3)
    torch.save(head_state(head), tmp_path / "h.pt")
    again = head_from_state(torch.load(tmp_path / "h.pt", weights_only=True))
    x = torch.randn(2, 3, 8, 10, 10)
    assert torch.allclose(head(x), again(x)) and torch.allclose(again.std, head.std)
    assert torch.allclose(predict_logits(head, x, batch_size=1), head(x), atol=1e-5)


def test_fit_size_crops_to_aspect_then_resizes():
    x = torch.arange(2 * 125 * 200, dtype=torch.float32).reshape(1, 2, 125, 200)
    y = _fit_size(x, 32, 32)
    assert y.shape == (1, 2, 32, 32)
    assert _fit_size(y, 32, 32) is y
    assert _fit_size(torch.ones(3, 8, 16, 16), 32, 32).shape == (3, 8, 32, 32)


def test_tfp_source():
    spikes = (np.random.default_rng(0).random((50, 10, 12)) < 0.3).astype(np.uint8)
    f = TfpSource(maps=3, window=9)(spikes)
    assert f.shape == (3, 1, 10, 12) and 0.3 < float(f.mean()) < 0.7  # rate 0.3 / white rate 0.6
    assert get_source("tfp41").window == 41 and get_source("tfp13x4").maps == 4


def test_decoded_features_through_an_untrained_codec():
    codec_mod = pytest.importorskip("spikesci.models.codec")
    from spikesci.train.classify_stage import decoded_features

    torch.manual_seed(0)
    codec = codec_mod.FeatureCodec().eval()
    x = torch.randn(2, 2, codec.config.channels, 16, 16).half()
    decoded, nbytes = decoded_features(x, codec, 0, progress=False)
    assert decoded.shape == x.shape and decoded.dtype == x.dtype and nbytes > 0
    again, nbytes2 = decoded_features(x, codec, 0, progress=False)
    assert torch.equal(decoded, again) and nbytes == nbytes2  # real coding is deterministic


def test_compute_features_float32_is_exact_and_uncached(tmp_path):
    """Stage 3 codes float32 maps, as `spikesci encode` does; the float16 cache is for the heads only."""
    from spikesci.tasks.features import compute_features

    class Clips:
        split = "test"

        def __len__(self):
            return 2

        def spikes(self, i):
            return (np.random.default_rng(i).random((30, 8, 10)) < 0.3).astype(np.uint8)

    src = TfpSource(maps=2, window=7)
    exact = compute_features(Clips(), src, tmp_path, progress=False, dtype=torch.float32)
    assert exact.dtype == torch.float32 and not list(tmp_path.iterdir())
    assert torch.equal(exact[1], src(Clips().spikes(1)))
    cached = compute_features(Clips(), src, tmp_path, progress=False)
    assert cached.dtype == torch.float16 and len(list(tmp_path.iterdir())) == 1


def test_decoded_features_through_the_x265_feature_codec():
    """Stage 3 for the release-3 heads codes each clip's maps with the x265 codec at every level."""
    from spikesci.models.codec.conventional import QUALITY_SETTINGS, ConventionalFeatureCodec
    from spikesci.train.classify_stage import _coded_mix, decoded_features

    codec = ConventionalFeatureCodec()
    if codec.video.availability() is not None:
        pytest.skip("x265 is not in this FFmpeg build")
    assert codec.levels == len(QUALITY_SETTINGS)
    yy, xx = np.mgrid[:64, :64]
    base = np.stack([np.sin(xx / 4 + k) * np.cos(yy / 5) for k in range(3)])
    x = torch.from_numpy(np.stack([base, 0.5 * base], 1)[None].repeat(codec.levels, 0)).float()
    low, low_bytes = decoded_features(x[:1], codec, 0, progress=False)
    high, high_bytes = decoded_features(x[:1], codec, codec.levels - 1, progress=False)
    assert low_bytes < high_bytes and (high - x[:1]).abs().mean() < (low - x[:1]).abs().mean()
    mixed = _coded_mix(x, codec, progress=False)  # clip i at level i mod levels
    assert torch.equal(mixed[0], low[0]) and torch.equal(mixed[-1], high[0])
