"""`spikesci info / simulate / reconstruct / demo` end to end, including clean one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikesci.cli import main
from spikesci.io import read_dat, read_npz, write_dat

SMALL = ["--height", "40", "--width", "64"]
CLI = "import sys; from spikesci.cli import main; sys.exit(main())"  # what the `spikesci` script runs


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv, match=""):
    code, out, err = run(capsys, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikesci: error"), err
    assert "Traceback" not in err and match.lower() in err.lower(), err
    return err


def test_simulate_info_reconstruct_from_a_bundled_image(tmp_path, capsys):
    dat = tmp_path / "cam.dat"
    code, out, _ = run(capsys, "simulate", "skimage:camera", "-o", dat, "--frames", 60, "--motion", "slow",
                       "--gt", "--seed", 3, *SMALL)
    assert code == 0 and "60 frames" in out
    spikes = read_dat(dat, 40, 64)
    assert spikes.shape == (60, 40, 64)
    with np.load(tmp_path / "cam.gt.npz") as gt:
        truth = gt["luminance"]
    assert truth.shape == (60, 40, 64) and truth.dtype == np.float16  # compressed: 11 bits are plenty
    assert spikes.mean() == pytest.approx(0.6 * truth.mean(), abs=0.02)

    code, out, _ = run(capsys, "info", dat, "--json", *SMALL)
    info = json.loads(out)
    assert code == 0 and (info["frames"], info["height"], info["width"]) == (60, 40, 64)
    assert info["firing_rate"] == pytest.approx(spikes.mean()) and info["bytes"] == 60 * 320
    code, out, _ = run(capsys, "info", dat, *SMALL)
    assert code == 0 and "firing rate" in out and "60" in out

    png = tmp_path / "tfp.png"
    assert run(capsys, "reconstruct", dat, "-o", png, "--method", "tfp", "--frame", 30, *SMALL)[0] == 0
    image = np.asarray(Image.open(png), dtype=np.float64) / 255
    assert image.shape == (40, 64)
    assert np.abs(image - truth[30]).mean() < 0.12  # TFP of a slow scene is close to the truth
    assert run(capsys, "reconstruct", dat, "-o", tmp_path / "tfi.png", "--method", "tfi", *SMALL)[0] == 0
    assert Image.open(tmp_path / "tfi.png").size == (64, 40)
    code, out, _ = run(capsys, "reconstruct", dat, "-o", tmp_path / "all", "--window", 9, *SMALL)
    assert code == 0 and len(list((tmp_path / "all").glob("frame_*.png"))) == 60
    png = tmp_path / "net.png"
    args = ("--method", "net", "--frame", 30, *SMALL)
    assert run(capsys, "reconstruct", dat, "-o", png, *args)[0] == 0
    image = np.asarray(Image.open(png), dtype=np.float64) / 255
    assert image.shape == (40, 64) and np.abs(image - truth[30]).mean() < 0.12
    # block-grid phases belong to the half-resolution release 2; release 3 refuses them in one line
    code, _, err = run(capsys, "reconstruct", dat, "-o", tmp_path / "net4.png", *args, "--phases", 4)
    assert code != 0 and "full resolution" in err and not (tmp_path / "net4.png").exists()
    # one picture averages 8 mirrored / turned views by default; --ensemble 1 is one pass, not better
    code, out, _ = run(capsys, "reconstruct", dat, "-o", tmp_path / "net1.png", *args, "--ensemble", 1,
                       "--json")
    assert code == 0 and json.loads(out)["ensemble"] == 1
    single = np.asarray(Image.open(tmp_path / "net1.png"), dtype=np.float64) / 255
    assert np.abs(image - single).max() > 0  # the views differ ...
    # ... and they average well
    assert np.abs(image - truth[30]).mean() <= np.abs(single - truth[30]).mean() + 0.002
    code, _, err = run(capsys, "reconstruct", dat, "-o", tmp_path / "tfp8.png", "--ensemble", 8, *SMALL)
    assert code != 0 and "--method net only" in err


def test_simulate_image_file_to_npz_and_white_rate_threshold_noise(tmp_path, capsys):
    picture = tmp_path / "grey.png"
    Image.fromarray(np.full((30, 50), 128, np.uint8)).save(picture)
    npz = tmp_path / "grey.npz"
    assert run(capsys, "simulate", picture, "-o", npz, "--frames", 400, *SMALL)[0] == 0
    spikes = read_npz(npz)
    assert spikes.shape == (400, 40, 64)
    assert spikes.mean() == pytest.approx(0.6 * 128 / 255, abs=0.01)
    assert json.loads(run(capsys, "info", npz, "--json")[1])["frames"] == 400
    half = tmp_path / "half.npz"
    assert run(capsys, "simulate", picture, "-o", half, "--frames", 400, "--threshold", 2, *SMALL)[0] == 0
    assert read_npz(half).mean() == pytest.approx(spikes.mean() / 2, abs=0.01)
    noisy = tmp_path / "noisy.npz"
    assert run(capsys, "simulate", picture, "-o", noisy, "--frames", 400, "--noise", *SMALL)[0] == 0
    assert read_npz(noisy).mean(axis=0).std() > 2 * spikes.mean(axis=0).std()  # fixed-pattern noise
    assert run(capsys, "reconstruct", npz, "-o", tmp_path / "r.png", "--white-rate", 0.3)[0] == 0
    assert np.asarray(Image.open(tmp_path / "r.png")).mean() > 240  # twice the true rate saturates


def test_simulate_folder_of_frames_and_video(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, level in enumerate((0, 100, 200)):
        Image.fromarray(np.full((48, 64), level, np.uint8)).save(folder / f"f{i:02d}.png")
    out = tmp_path / "seq.dat"
    gt_dir = tmp_path / "gt"
    code, text, _ = run(capsys, "simulate", folder, "-o", out, "--repeat", 4, "--gt", gt_dir, *SMALL)
    assert code == 0 and read_dat(out, 40, 64).shape == (9, 40, 64)  # 1 + 2 x 4 interpolated frames
    levels = [np.asarray(Image.open(p)).mean() for p in sorted(gt_dir.glob("frame_*.png"))]
    assert len(levels) == 9 and levels[0] == 0 and levels[4] == pytest.approx(100, abs=1)
    assert levels[2] == pytest.approx(50, abs=1)  # halfway between the first two input frames

    import av

    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            rgb = np.full((48, 64, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "video.dat"
    assert run(capsys, "simulate", video, "-o", out, "--frames", 5, *SMALL)[0] == 0
    assert read_dat(out, 40, 64).shape == (5, 40, 64)
    fails(capsys, "simulate", video, "-o", tmp_path / "v2.dat", "--motion", "fast", *SMALL,
          match="still image")


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "a.dat"
    assert run(capsys, "simulate", "skimage:coins", "-o", out, "--frames", 3, *SMALL)[0] == 0
    fails(capsys, "simulate", "skimage:coins", "-o", out, "--frames", 3, *SMALL, match="already exists")
    assert run(capsys, "simulate", "skimage:coins", "-o", out, "--frames", 4, "--force", *SMALL)[0] == 0
    assert read_dat(out, 40, 64).shape == (4, 40, 64)
    png = tmp_path / "a.png"
    png.write_bytes(b"precious")
    fails(capsys, "reconstruct", out, "-o", png, *SMALL, match="already exists")
    assert png.read_bytes() == b"precious"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    fails(capsys, "reconstruct", out, "-o", tmp_path / "full", *SMALL, match="not empty")
    fails(capsys, "simulate", "skimage:coins", "-o", tmp_path / "x.dat", "--gt", png, *SMALL)
    assert not (tmp_path / "x.dat").exists() and not list(tmp_path.glob("*.part"))


def test_bad_input_gives_one_clear_line(tmp_path, capsys):
    fails(capsys, "info", tmp_path / "missing.dat", match="no such file")
    fails(capsys, "simulate", "skimage:nothing", "-o", tmp_path / "o.dat", match="no such file")
    fails(capsys, "simulate", "skimage:camera", "-o", tmp_path / "o.txt", match=".dat or .npz")
    fails(capsys, "simulate", "skimage:camera", "-o", tmp_path / "o.dat", "--white-rate", 0.9, "--threshold",
          0.5, match="in (0, 1]")
    fails(capsys, "simulate", "skimage:camera", "-o", tmp_path / "no" / "o.dat", match="does not exist")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    fails(capsys, "simulate", tmp_path / "junk.png", "-o", tmp_path / "o.dat", match="not a readable image")
    write_dat(tmp_path / "s.dat", np.ones((5, 40, 64), np.uint8))
    fails(capsys, "reconstruct", tmp_path / "s.dat", "-o", tmp_path / "s.png", "--frame", 5, *SMALL,
          match="outside")
    fails(capsys, "reconstruct", tmp_path / "s.dat", "-o", tmp_path / "s.png", *SMALL, "--white-rate", 0,
          match="white rate")
    fails(capsys, "reconstruct", tmp_path / "s.dat", "-o", tmp_path / "s.png", *SMALL, "--phases", 4,
          match="--method net only")
    assert not (tmp_path / "s.png").exists()
    fails(capsys, "info", tmp_path / "s.dat", match="250x400")  # wrong size: names what would fit


def test_truncated_dat_in_a_subprocess_is_one_line_without_traceback(tmp_path):
    path = tmp_path / "cut.dat"
    write_dat(path, np.ones((3, 250, 400), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    env = dict(os.environ)
    env.pop("SPIKESCI_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", CLI, "info", str(path)], capture_output=True, text=True,
                          env=env, timeout=180)
    assert proc.returncode != 0 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a whole number" in lines[0], proc.stderr


def test_truncated_dat_everywhere_in_process(tmp_path, capsys):
    path = tmp_path / "cut.dat"
    write_dat(path, np.ones((3, 40, 64), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    fails(capsys, "reconstruct", path, "-o", tmp_path / "x.png", *SMALL, match="not a whole number")
    fails(capsys, "reconstruct", path, "-o", tmp_path / "dir", *SMALL, match="not a whole number")
    fails(capsys, "info", path, *SMALL, match="not a whole number")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "dir").exists()


@pytest.mark.parametrize("command", ["info", "simulate", "reconstruct", "demo"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: spikesci " + command in capsys.readouterr().out


def test_demo_writes_table_png_and_json(tmp_path, capsys):
    from spikesci.demo import DemoConfig, run_demo

    results = run_demo(tmp_path / "demo", DemoConfig(height=48, width=64, frames=50, codecs=("zstd-19",)),
                       log=lambda line: None)
    methods = [row["method"] for row in results["rows"]]
    assert methods[0].startswith("raw .dat + TFP") and any("zstd" in m for m in methods)
    tfp_row = results["rows"][0]
    assert tfp_row["bpp"] == pytest.approx(1.0) and tfp_row["psnr"] > 15 and 0 < tfp_row["ssim"] <= 1
    for row in results["rows"]:
        if "lossless" in row["method"] and not row["note"].startswith("skipped"):
            assert 0 < row["bpp"] < 1.0 and "FAILED" not in row["note"]
    for name in ("demo.dat", "demo.png", "demo.json"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert Image.open(tmp_path / "demo" / "demo.png").size[0] > 200
    code, out, _ = run(capsys, "demo", "--out", tmp_path / "cli", "--frames", 16)
    assert code == 0 and "PSNR" in out and "bpp" in out and (tmp_path / "cli" / "demo.png").exists()


REDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "spike-reds" / "203_part2_key_id151.dat"


@pytest.mark.skipif(not REDS.is_file(), reason="spike-REDS clip not present in ../shared/data (optional)")
def test_reconstruct_spike_reds_frame_150_matches_published_protocol(tmp_path, capsys):
    out = tmp_path / "reds.png"
    assert run(capsys, "reconstruct", REDS, "-o", out, "--frame", 150, "--white-rate", 0.6)[0] == 0
    got = np.asarray(Image.open(out), dtype=np.float64) / 255
    truth = np.asarray(Image.open(REDS.with_suffix(".png")).convert("L"), dtype=np.float64) / 255
    psnr = 10 * np.log10(1 / np.mean((got - truth.astype(np.float64)) ** 2))
    assert psnr == pytest.approx(23.5, abs=0.5)  # TFP(41), white rate 0.6 (8-bit PNG output)
