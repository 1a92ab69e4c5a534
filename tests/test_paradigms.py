"""Paradigm comparison: each paradigm gives points on a tiny clip, BD-rate bookkeeping, the CLI end to end."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from spikesci.baselines import get_codec
from spikesci.bench.paradigms import Clip, ParadigmConfig, image_grid, run_paradigms, spread
from spikesci.bench.rd import CAAS_LABEL, bd_one, bd_rates, format_table, pareto
from spikesci.bench.suite import file_clip, jsonable
from spikesci.cli import main
from spikesci.io.dat import write_dat
from spikesci.io.npz import write_npz
from spikesci.metrics import psnr
from spikesci.reconstruct import tfp
from spikesci.simulate.scenes import make_scene, preset

H, W, T = 64, 96, 48
CFG = ParadigmConfig(codecs=("x264",), lossless=("ffv1",), reconstructors=("tfp",), points=4, stride=8, gop=4,
                     max_eval=2, paradigms=("CTA", "ATC"))


@pytest.fixture(scope="module")
def scene():
    return make_scene(preset("slow", height=H, width=W, frames=T, split="heldout"), seed=11, image="camera")


@pytest.fixture(scope="module")
def clip(scene):
    return Clip("tiny", np.asarray(scene.spikes), scene.luminance, np.arange(T))


@dataclass
class _Decoded:
    images: np.ndarray
    frames: np.ndarray


class StandInCodec:
    """A real (not learned) codec behind the facade's interface, to test the CAAS plumbing before
    spikesci.sci exists: TFP images every 8 frames, coded with x264 into a real file."""

    QUALITIES = (1, 2, 3, 4)
    CRF = {1: 22, 2: 30, 3: 38, 4: 46}

    def encode_spikes(self, spikes, path, quality):
        frames = image_grid(spikes.shape[0], 8, 3)  # deliberately off the benchmark's grid
        images = np.stack([tfp(spikes, int(f)) for f in frames])
        stream = get_codec("x264").encode(np.round(images * 255).astype(np.uint8), self.CRF[quality], gop=4)
        Path(path).write_bytes(pickle.dumps((stream, frames)))
        return {"bytes": Path(path).stat().st_size}

    def decode_file(self, path):
        stream, frames = pickle.loads(Path(path).read_bytes())
        return _Decoded(get_codec("x264").decode(stream).astype(np.float32) / 255, frames)


def test_cta_and_atc_give_points_with_real_rates(clip):
    res = run_paradigms([clip], CFG, progress=False, log=lambda m: None)
    pts = res["points"]
    assert {p["paradigm"] for p in pts} == {"CTA", "ATC"}
    cta = [p for p in pts if p["method"] == "x264+TFP"]
    atc = [p for p in pts if p["method"] == "TFP+x264"]
    assert len(cta) == 4 and len(atc) >= 4  # ATC: more where TFP peaks inside the ladder (refine)
    for p in pts:
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / (H * W * T))
        assert set(p) >= {"paradigm", "method", "bpp", "psnr", "ssim", "clip"}
    # lossless CTA reconstructs exactly what uncompressed TFP gives
    lossless = next(p for p in pts if p["method"] == "ffv1+TFP")
    ev = res["eval_frames"]["tiny"]
    assert len(ev) == 2 and T // 2 in ev
    want = np.mean([psnr(tfp(clip.spikes, f), clip.truth[f]) for f in ev])
    assert lossless["psnr"] == pytest.approx(want, abs=1e-6)
    # coarser CTA settings lose spikes: fewer bits and lower quality at the worst setting
    cta.sort(key=lambda p: p["bpp"])
    assert cta[0]["psnr"] < cta[-1]["psnr"] - 1.0
    assert res["codecs"]["ffv1"] == "available"


def test_caas_provider_is_scored_and_compared(clip):
    cfg = ParadigmConfig(codecs=("x264",), lossless=(), reconstructors=("tfp",), points=6, stride=8, gop=4,
                         max_eval=2, paradigms=("ATC", "CAAS"))
    res = run_paradigms([clip], cfg, progress=False, log=lambda m: None, caas=StandInCodec())
    caas = [p for p in res["points"] if p["paradigm"] == "CAAS"]
    assert len(caas) == 4 and all(p["psnr"] > 15 for p in caas)
    assert all(p["setting"].startswith("quality=") for p in caas)
    summary, detail = bd_rates(res["points"])
    assert set(summary) == {"ATC TFP+x264"}
    entry = detail["ATC TFP+x264"]["tiny"]
    assert (entry["bd_rate"] is None) == (entry["reason"] is not None)
    assert "BD-rate of CAAS" in format_table(summary, detail)


def test_no_reference_view_scores_against_an_uncompressed_reconstruction(scene):
    clip = Clip("noref", np.asarray(scene.spikes))
    cfg = ParadigmConfig(codecs=(), lossless=("ffv1",), reconstructors=("tfp",), stride=8, max_eval=2,
                         paradigms=("CTA",))
    res = run_paradigms([clip], cfg, progress=False, log=lambda m: None)
    (point,) = res["points"]
    assert point["reference"] in ("net", "tfp")
    if point["reference"] == "tfp":  # lossless coding of the reference method: identical images
        assert point["psnr"] == float("inf") and jsonable(point)["psnr"] is None


def test_bd_rate_of_a_curve_against_itself_is_zero_and_matches_bjontegaard():
    bjontegaard = pytest.importorskip("bjontegaard")
    rate = np.array([0.01, 0.02, 0.05, 0.1, 0.2])
    quality = np.array([28.0, 30.5, 33.0, 35.0, 36.5])
    value, gain, reason = bd_one((rate, quality), (rate, quality))
    assert reason is None and value == pytest.approx(0.0, abs=1e-9) and gain == pytest.approx(0.0, abs=1e-9)
    test = (rate * 0.7, quality + 0.2)
    value, _, _ = bd_one((rate, quality), test)
    ref = bjontegaard.bd_rate(rate, quality, *test, method="cubic", require_matching_points=False,
                              min_overlap=0)
    assert value == pytest.approx(ref, rel=1e-6) and value < 0


def test_bd_rate_skips_short_and_non_overlapping_curves_with_a_reason():
    rate, quality = np.array([0.01, 0.02, 0.05, 0.1]), np.array([28.0, 30.0, 32.0, 33.0])
    assert bd_one((rate[:3], quality[:3]), (rate, quality))[2].startswith("anchor curve has 3 usable")
    assert bd_one((rate, quality), (rate, quality + 20))[2] == "PSNR ranges do not overlap"
    # a non-monotonic curve is reduced to its Pareto front first
    r, q = pareto(np.array([0.1, 0.01, 0.05, 0.02]), np.array([30.0, 29.0, 31.0, 29.5]))
    assert list(r) == [0.01, 0.02, 0.05] and list(q) == [29.0, 29.5, 31.0]


def test_spread_and_grid():
    assert spread((1, 2, 3, 4, 5, 6), 4) == (1, 3, 4, 6)
    assert spread((1, 2), 6) == (1, 2)
    grid = image_grid(301, 20, 150)
    assert 150 in grid and grid[0] == 10 and np.all(np.diff(grid) == 20)


def test_file_clip_with_png_truth(tmp_path, scene):
    from PIL import Image

    write_dat(tmp_path / "c.dat", scene.spikes)
    Image.fromarray(np.round(scene.luminance[20] * 255).astype(np.uint8)).save(tmp_path / "c.png")
    clip = file_clip(tmp_path / "c.dat", H, W, frame=20)
    assert clip.truth.shape == (1, H, W) and list(clip.truth_frames) == [20]
    with pytest.raises(Exception, match="outside the clip"):
        file_clip(tmp_path / "c.dat", H, W, frame=T)


def test_cli_quick_end_to_end(tmp_path, scene):
    from PIL import Image

    write_dat(tmp_path / "clip.dat", scene.spikes)
    Image.fromarray(np.round(scene.luminance[T // 2] * 255).astype(np.uint8)).save(tmp_path / "clip.png")
    write_npz(tmp_path / "real.npz", scene.spikes[:32])
    out = tmp_path / "out"
    argv = ["bench", "paradigms", str(tmp_path / "clip.dat"), str(tmp_path / "real.npz"), "--quick",
            "--suite", "none", "--out", str(out), "--codecs", "x264", "--recon", "tfp", "--stride", "8",
            "--height", str(H), "--width", str(W), "--no-progress"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert {"points", "bd_rate"} <= set(res)
    assert {p["clip"] for p in res["points"]} == {"clip", "real"}
    for p in res["points"]:
        assert {"paradigm", "method", "bpp", "psnr", "ssim", "clip"} <= set(p)
        assert p["paradigm"] in ("CTA", "ATC", "CAAS")
    assert isinstance(res["bd_rate"], dict)
    if not any(p["paradigm"] == "CAAS" for p in res["points"]):
        assert any("CAAS skipped" in s for s in res["skipped"]) and res["bd_rate"] == {}
    else:
        assert all(k != CAAS_LABEL for k in res["bd_rate"])
    assert (out / "rd.png").stat().st_size > 1000 and (out / "bd_rate.txt").exists()
    assert main(argv) == 1  # refuses to overwrite without --force


class GopRecordingCodec(StandInCodec):
    """The stand-in with a `gop` parameter, as the real facade has: records what the benchmark asks for."""

    def __init__(self):
        self.gops = []

    def encode_spikes(self, spikes, path, quality, gop=8):
        self.gops.append(gop)
        return super().encode_spikes(spikes, path, quality)


def test_caas_is_coded_with_the_same_gop_as_the_atc_anchors(clip):
    codec = GopRecordingCodec()
    cfg = ParadigmConfig(codecs=("x264",), lossless=(), reconstructors=("tfp",), points=2, stride=8, gop=5,
                         max_eval=1, paradigms=("CAAS",), caas_qualities=(1, 4))
    run_paradigms([clip], cfg, progress=False, log=lambda m: None, caas=codec)
    assert codec.gops == [5, 5]


@pytest.mark.parametrize("flags, message", [(["--gop", "300"], "--gop must be 1..255"),
                                            (["--caas-codecs", "learned,vvc"], "unknown CAAS codec")])
def test_cli_refuses_bad_gop_and_caas_codec_in_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert main(["bench", "paradigms", "--suite", "small", "--out", str(out), *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


def test_pchip_default_scores_a_dominating_curve_as_saving_bits_where_the_cubic_fit_swings():
    """Measured on 203_part3 (GOP 32): CAAS via x265 is above TFI+x264 at every rate, yet one cubic fit of
    log-rate against PSNR says +245 %, because TFI saturates near 26.3 dB. PCHIP (the default) says < 0."""
    anchor = [(0.00085, 20.82), (0.00134, 23.09), (0.01235, 26.22), (0.03789, 26.32), (0.07606, 26.38)]
    caas = [(0.00053, 21.83), (0.00105, 23.18), (0.0021, 24.47), (0.00691, 27.16), (0.02278, 28.76)]
    points = [{"paradigm": par, "method": m, "clip": "c", "bpp": r, "psnr": q, "ssim": 0.0}
              for par, m, curve in (("ATC", "TFI+x264", anchor), ("CAAS", "spikesci-x265", caas))
              for r, q in curve]
    test = "CAAS spikesci-x265"
    pchip, _ = bd_rates(points, test=test, method="pchip")
    cubic, _ = bd_rates(points, test=test, method="cubic")
    assert pchip["ATC TFI+x264"] < 0 < cubic["ATC TFI+x264"]
    assert ParadigmConfig().bd_method == "pchip"


def test_paradigms_refines_a_two_point_atc_curve(clip):
    cfg = ParadigmConfig(codecs=("x264",), lossless=(), reconstructors=("tfp",), points=2, stride=8, gop=4,
                         max_eval=2, paradigms=("ATC",))
    points = run_paradigms([clip], cfg, progress=False, log=lambda _: None)["points"]
    settings = {p["setting"] for p in points}
    assert {"x264 crf=22", "x264 crf=47"} < settings  # the two ladder ends, then bisected settings
    plain = run_paradigms([clip], replace(cfg, refine=False), progress=False,
                          log=lambda _: None)["points"]
    assert {p["setting"] for p in plain} == {"x264 crf=22", "x264 crf=47"}


def test_cli_runs_as_the_issue_wrote_it_with_a_default_output(tmp_path, capsys, monkeypatch):
    """`spikesci bench paradigms CLIP.dat --frame 150` (no --out): results go to bench_out/paradigms, and
    earlier results there are kept unless --force."""
    monkeypatch.chdir(tmp_path)
    done = tmp_path / "bench_out" / "paradigms" / "results.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    assert main(["bench", "paradigms", "CLIP.dat", "--frame", "150"]) == 1
    err = capsys.readouterr().err.strip()
    assert "already exists" in err and "--force" in err and len(err.splitlines()) == 1
    assert done.read_text() == "{}"
