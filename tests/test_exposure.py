"""Automatic exposure (issue 16): `--white-rate auto` reads the white rate off the clip, so a dim recording
(the real UHSR clip fires 0.03 spikes per pixel per frame) is not reconstructed or decoded almost black."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from spikesci.cli import main
from spikesci.io import write_npz
from spikesci.reconstruct.exposure import apply_gain, auto_white_rate, auto_white_rate_from_image
from spikesci.simulate.camera import NOISY, CameraConfig, simulate_spikes


def _scene(frames: int, frames_per_px: int = 10) -> np.ndarray:
    """A panning scene with true white in it: white bands 32 px wide between dark-to-grey ramps."""
    x = np.arange(96 + frames // frames_per_px + 1)
    row = np.where(x % 128 < 32, 1.0, (x % 128) / 180.0)
    s = frames_per_px
    return np.stack([np.tile(row[t // s:t // s + 96], (64, 1)) for t in range(frames)]).astype(np.float32)


def _clip(white: float, frames: int, noisy: bool = False, frames_per_px: int = 10) -> np.ndarray:
    base = NOISY if noisy else CameraConfig()
    return simulate_spikes(_scene(frames, frames_per_px), replace(base, white_rate=white), seed=1)


@pytest.fixture(scope="module")
def dark(tmp_path_factory):
    """The scene seen by a camera whose white fires 0.03 spikes a frame (as dim as the UHSR recording)."""
    d = tmp_path_factory.mktemp("exposure")
    write_npz(d / "dark.npz", _clip(0.03, 600))
    return d


@pytest.mark.parametrize("white,noisy,speed", [(0.03, False, 10), (0.03, False, 3), (0.1, False, 3),
                                               (0.1, True, 10), (0.6, False, 10), (0.6, True, 3)])
def test_auto_recovers_the_white_rate_within_10_percent(white, noisy, speed):
    spikes = _clip(white, 600 if white < 0.1 else 200, noisy, speed)
    assert auto_white_rate(spikes) == pytest.approx(white, rel=0.10)


def test_auto_on_a_dim_noisy_camera_counts_its_dark_current():
    """Dark current makes white pixels fire more than 0.03: the estimate follows (within 15 %)."""
    assert auto_white_rate(_clip(0.03, 600, noisy=True)) == pytest.approx(0.03, rel=0.15)


def test_reconstruct_auto_is_the_default_and_printed(dark, capsys):
    capsys.readouterr()
    assert main(["reconstruct", str(dark / "dark.npz"), "-o", str(dark / "auto.png"), "--frame", "20",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["white_rate_mode"] == "auto" and summary["white_rate"] == pytest.approx(0.03, rel=0.1)
    auto = np.asarray(Image.open(dark / "auto.png"), dtype=np.float64)
    assert auto[:, 5:25].mean() > 200  # the white band (columns 0-29 at frames 0-40) is (nearly) white
    assert main(["reconstruct", str(dark / "dark.npz"), "-o", str(dark / "fixed.png"), "--white-rate", "0.6",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["white_rate"] == 0.6
    assert np.asarray(Image.open(dark / "fixed.png")).max() < 30  # the old default: almost black


def test_decode_auto_uses_the_encoders_measurement(dark, capsys):
    sci, png = dark / "dark.sci", dark / "dec.png"
    assert main(["encode", str(dark / "dark.npz"), "-o", str(sci), "--quality", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes"] > 0
    assert main(["info", str(sci), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["white_rate"] == pytest.approx(0.03, rel=0.1)
    assert main(["decode", str(sci), "-o", str(png), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["white_rate"] == pytest.approx(0.03, rel=0.1) and "encoder" in summary["white_rate_mode"]
    assert summary["clip_frames"] == 600 and summary["covered"][0] <= summary["frames"][0]
    assert np.asarray(Image.open(png)).mean() > 60  # not black (under 0.6 it would be)


def test_gain_and_image_estimate():
    img = np.full((20, 20), 0.05, np.float32)
    assert auto_white_rate_from_image(img, 0.6) == pytest.approx(0.03)
    assert apply_gain(img, 0.6, 0.03).max() == pytest.approx(1.0)
    assert apply_gain(img, 0.6, 0.6) is img
    assert auto_white_rate(np.zeros((50, 8, 8), np.uint8)) > 0  # no spikes: defined, black
