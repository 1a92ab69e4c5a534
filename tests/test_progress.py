"""Progress that tells the truth (issue 16): per-map bars with an ETA on stderr for encode and decode (a
short clip no longer sits at 0/1 group of pictures), kept with --json when stderr is a terminal."""

from __future__ import annotations

import io
import json
import re

import pytest

from spikesci.cli import main
from spikesci.cli.common import show_progress
from spikesci.io import write_npz
from spikesci.simulate.scenes import make_scene, preset


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_keeps_progress_only_on_a_terminal(monkeypatch):
    assert show_progress(json_mode=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not show_progress(json_mode=True)  # a pipe or file a program reads: clean
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert show_progress(json_mode=True)  # a person watching


def test_encode_and_decode_count_maps_with_eta(tmp_path, capsys, monkeypatch):
    import contextlib

    import spikesci.progress

    ticks: dict[str, list] = {}
    real_bar = spikesci.progress.progress_bar

    @contextlib.contextmanager
    def recording_bar(total, what, unit="map", enabled=True):
        with real_bar(total, what, unit, enabled) as bar:
            class Recorder:
                def update(self, n=1):
                    ticks.setdefault(what, []).append(n)
                    bar.update(n)

            yield Recorder()

    monkeypatch.setattr(spikesci.progress, "progress_bar", recording_bar)
    scene = make_scene(preset("slow", height=48, width=64, frames=140, sprites=0), seed=4)
    write_npz(tmp_path / "clip.npz", scene.spikes)
    sci = tmp_path / "clip.sci"
    assert main(["encode", str(tmp_path / "clip.npz"), "-o", str(sci), "--quality", "1"]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")
    assert main(["info", str(sci), "--json"]) == 0
    maps = json.loads(capsys.readouterr().out)["maps"]
    assert maps >= 3
    assert ticks["encode"] == [1] * maps  # one tick per map, inside one group of pictures of 8
    assert f"encode: {maps}/{maps} maps" in err and re.search(r"<\d\d:\d\d", err)  # ETA shown
    assert main(["decode", str(sci), "-o", str(tmp_path / "frames")]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")
    assert ticks["decode"] == [1] * maps and f"decode: {maps}/{maps} maps" in err


@pytest.mark.parametrize("json_flag", [True])
def test_json_output_stays_clean_in_a_pipe(tmp_path, capsys, json_flag):
    scene = make_scene(preset("slow", height=48, width=64, frames=100, sprites=0), seed=5)
    write_npz(tmp_path / "clip.npz", scene.spikes)
    assert main(["encode", str(tmp_path / "clip.npz"), "-o", str(tmp_path / "c.sci"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["maps"] >= 1 and "maps" not in err
