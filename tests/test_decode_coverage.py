"""Which spike frames `decode` has pictures for (issue 16, item 15): said in the JSON, and with
`encode --cover clip` the whole clip."""

from __future__ import annotations

import json

import pytest

from spikesci.cli import main
from spikesci.io import write_npz
from spikesci.simulate.scenes import make_scene, preset


@pytest.mark.parametrize("cover,first,last,maps", [("windows", 20, 160, 8), ("clip", 10, 190, 10)])
def test_decode_says_what_it_covers(tmp_path, capsys, cover, first, last, maps):
    scene = make_scene(preset("slow", height=48, width=64, frames=200, sprites=0), seed=6)
    write_npz(tmp_path / "clip.npz", scene.spikes)
    sci = tmp_path / "clip.sci"
    assert main(["encode", str(tmp_path / "clip.npz"), "-o", str(sci), "--quality", "1", "--cover", cover,
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["decode", str(sci), "-o", str(tmp_path / "frames"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clip_frames"] == 200 and out["covered"] == [first, last] and out["maps"] == maps
    assert out["frames"][0] == first and out["frames"][-1] == last
    if cover == "clip":  # every spike frame within stride / 2 of a picture
        assert first <= out["stride"] // 2 and last >= 199 - out["stride"] // 2


@pytest.mark.parametrize("cover,at,first,last", [("windows", 95, 35, 175), ("clip", 7, 7, 187)])
def test_encode_at_puts_a_map_on_the_asked_frame(tmp_path, capsys, cover, at, first, last):
    """`encode --at F` shifts the map grid onto F (a ground-truth frame), so `decode --frame F` is exact;
    without it decode says which frame its picture shows; a frame no map can lie on is refused."""
    scene = make_scene(preset("slow", height=48, width=64, frames=200, sprites=0), seed=6)
    write_npz(tmp_path / "clip.npz", scene.spikes)
    sci, plain = tmp_path / "at.sci", tmp_path / "plain.sci"
    assert main(["encode", str(tmp_path / "clip.npz"), "-o", str(sci), "--quality", "1", "--cover", cover,
                 "--at", str(at)]) == 0
    assert main(["encode", str(tmp_path / "clip.npz"), "-o", str(plain), "--quality", "1"]) == 0
    capsys.readouterr()
    assert main(["decode", str(sci), "-o", str(tmp_path / "a.png"), "--frame", str(at), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == [at] and out["covered"] == [first, last]
    assert main(["decode", str(plain), "-o", str(tmp_path / "p.png"), "--frame", "95"]) == 0
    assert "picture of spike frame 100, the map nearest --frame 95" in capsys.readouterr().out
    assert main(["encode", str(tmp_path / "clip.npz"), "-o", str(tmp_path / "bad.sci"), "--at", "5"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--at 5" in err[0] and not (tmp_path / "bad.sci").exists()


def test_encode_at_on_a_clip_shorter_than_a_window_is_one_clear_line(tmp_path, capsys):
    scene = make_scene(preset("slow", height=32, width=32, frames=24, sprites=0), seed=6)
    write_npz(tmp_path / "short.npz", scene.spikes)
    assert main(["encode", str(tmp_path / "short.npz"), "-o", str(tmp_path / "s.sci"), "--at", "10"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shorter than one map's window" in err[0] and not (tmp_path / "s.sci").exists()
    assert main(["encode", str(tmp_path / "short.npz"), "-o", str(tmp_path / "s.sci"), "--at", "10",
                 "--cover", "clip"]) == 0
