"""`spikesci score A.png B.png`: PSNR and SSIM of a picture against a ground truth, without Python."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from spikesci.cli import main
from spikesci.metrics import psnr, ssim


def test_score_matches_the_metrics_and_prints_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (40, 60)).astype(np.uint8)
    noisy = np.clip(truth.astype(int) + rng.integers(-8, 9, truth.shape), 0, 255).astype(np.uint8)
    Image.fromarray(truth).save(tmp_path / "gt.png")
    Image.fromarray(noisy).convert("RGB").save(tmp_path / "rec.png")  # colour is read as grey
    assert main(["score", str(tmp_path / "rec.png"), str(tmp_path / "gt.png"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["psnr"] == pytest.approx(psnr(noisy / 255.0, truth / 255.0), abs=1e-9)
    assert out["ssim"] == pytest.approx(ssim(noisy / 255.0, truth / 255.0), abs=1e-9)
    assert main(["score", str(tmp_path / "gt.png"), str(tmp_path / "gt.png"), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["identical"] and same["psnr"] is None  # infinite PSNR: JSON has no inf
    assert main(["score", str(tmp_path / "rec.png"), str(tmp_path / "gt.png")]) == 0
    assert "PSNR" in capsys.readouterr().out


def test_psnr_refuses_mixed_ranges():
    from spikesci.errors import SpikeSciError

    truth = np.random.default_rng(1).integers(0, 256, (20, 20)).astype(np.uint8)
    with pytest.raises(SpikeSciError, match="data_range"):
        psnr(truth / 255.0, truth)  # float [0, 1] against 8-bit: was -40.5 dB
    with pytest.raises(SpikeSciError, match="mixed"):
        psnr(truth / 255.0, truth, data_range=255)
    assert psnr(truth, truth.astype(float) + 1, data_range=255) == pytest.approx(48.13, abs=0.01)
