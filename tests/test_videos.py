"""Real video motion for training data v2: slowed videos as scene sources, deterministic, train split only."""

from dataclasses import replace

import numpy as np
import pytest

from spikesci.data.synth import SynthConfig, make_sample
from spikesci.data.videos import SPIKE_FRAMES_PER_VIDEO_FRAME, folder_videos, load_video, video_source

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """A 12-frame grey video of a bright square walking 4 px per frame over a gradient (mpeg4, lossy)."""
    folder = tmp_path_factory.mktemp("videos")
    path = folder / "walk.avi"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 80, "yuv420p"
        stream.options = {"qscale": "2"}
        for k in range(12):
            img = np.tile(np.linspace(30, 120, 96, dtype=np.uint8), (80, 1))
            img[30:50, 10 + 4 * k:30 + 4 * k] = 230
            frame = av.VideoFrame.from_ndarray(np.stack([img] * 3, -1), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    (folder / "notes.txt").write_text("not a video")
    return folder


def test_videos_are_found_and_decoded_grey(video_dir):
    names = folder_videos(str(video_dir))
    assert [n.rsplit("/", 1)[-1] for n in names] == ["walk.avi"]
    frames = load_video(names[0])
    assert frames.shape == (12, 80, 96) and frames.dtype == np.uint8
    # the square moved right by about 4 px per frame
    col = lambda f: np.argmax(f[40] > 180)  # noqa: E731
    assert 36 <= col(frames[10]) - col(frames[1]) <= 40


def test_video_source_slows_the_video_to_the_spike_rate(video_dir):
    video = load_video(folder_videos(str(video_dir))[0])
    rng = np.random.default_rng(0)
    clip = video_source(rng, video, frames=41, side=64)
    assert clip.shape == (41, 64, 64) and clip.dtype == np.float32 and 0 <= clip.min() and clip.max() <= 1
    # at least 8 spike frames per video frame: consecutive spike frames differ by at most 1/8 of a video step
    step = np.abs(np.diff(video.astype(np.float32) / 255, axis=0)).max()
    assert np.abs(np.diff(clip, axis=0)).max() <= step / SPIKE_FRAMES_PER_VIDEO_FRAME[0] + 1e-5


def test_generator_uses_videos_deterministically_and_only_in_training(video_dir):
    cfg = SynthConfig(size=24, frames=21, extra_videos=str(video_dir), video_fraction=1.0)
    a, b = make_sample(cfg, 3), make_sample(cfg, 3)
    assert a.meta["source"].endswith("walk.avi")
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.target, b.target)
    assert not np.array_equal(a.spikes, make_sample(cfg, 4).spikes)
    val = {make_sample(replace(cfg, split="validation"), i).meta["source"] for i in range(6)}
    assert not any(s.endswith("walk.avi") for s in val)


def test_train_refuses_a_folder_without_videos(tmp_path, capsys):
    from spikesci.cli import main

    code = main(["train", "--stage", "perception3", "--out", str(tmp_path / "run"), "--steps", "1",
                 "--extra-videos", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "--extra-videos" in err[0] and not (tmp_path / "run").exists()


def test_train_refuses_an_unreadable_video_before_creating_the_run(tmp_path, capsys):
    from spikesci.cli import main

    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    code = main(["train", "--stage", "perception3", "--out", str(tmp_path / "run"), "--steps", "1",
                 "--extra-videos", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "broken.mp4" in err[0] and not (tmp_path / "run").exists()
