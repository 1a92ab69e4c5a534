"""`spikesci decode IN.sci --task classify`: the classification head straight on decoded features."""

import json

import numpy as np

from spikesci.cli import main
from spikesci.io import write_npz
from spikesci.simulate import make_scene, preset


def test_decode_task_classify_prints_label_and_probabilities(tmp_path, capsys):
    scene = make_scene(preset("fast", height=64, width=64, frames=86, sprites=0), seed=3)
    src, sci = tmp_path / "clip.npz", tmp_path / "clip.sci"
    write_npz(src, scene.spikes)
    assert main(["encode", str(src), "-o", str(sci), "--quality", "1"]) == 0
    capsys.readouterr()
    assert main(["decode", str(sci), "-o", str(tmp_path / "out.npz"), "--task", "classify", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    probs = np.asarray(out["probabilities"])
    assert out["label"] == int(np.argmax(probs))
    assert abs(probs.sum() - 1) < 1e-4 and len(probs) == len(out["classes"])
    # the form, with no output file: the answer is printed
    assert main(["decode", str(sci), "--task", "classify", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["label"] == out["label"] and again["probabilities"] == out["probabilities"]
    # every answer says how far to trust it
    assert {"confidence", "low_confidence"} <= set(out) and out["confidence"] == max(out["probabilities"])
    # the user picks the head (issue 16): animals, not digits
    assert main(["decode", str(sci), "--task", "classify", "--model", "s-animals", "--json"]) == 0
    animals = json.loads(capsys.readouterr().out)
    assert animals["model"].startswith("s-animals") and animals["classes"] != out["classes"]
    assert main(["decode", str(sci), "--task", "classify", "--model", "no-such-head"]) == 1
    assert "no-such-head" in capsys.readouterr().err


def test_out_of_domain_clip_is_flagged(tmp_path, capsys):
    """A wide 64x160 clip is not what the 64x64 heads were trained on: the answer is flagged."""
    scene = make_scene(preset("slow", height=64, width=160, frames=100, sprites=0), seed=2)
    src, sci = tmp_path / "wide.npz", tmp_path / "wide.sci"
    write_npz(src, scene.spikes)
    assert main(["classify", str(src), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["low_confidence"] and "out of domain" in out["warning"]
    assert main(["encode", str(src), "-o", str(sci), "--quality", "1"]) == 0
    capsys.readouterr()
    assert main(["decode", str(sci), "--task", "classify"]) == 0
    assert "low confidence" in capsys.readouterr().out


def test_decode_unknown_task_is_one_clear_error(tmp_path, capsys):
    scene = make_scene(preset("slow", height=64, width=64, frames=60, sprites=0), seed=1)
    src, sci = tmp_path / "clip.npz", tmp_path / "clip.sci"
    write_npz(src, scene.spikes)
    assert main(["encode", str(src), "-o", str(sci), "--quality", "1"]) == 0
    assert main(["decode", str(sci), "-o", str(tmp_path / "o.npz"), "--task", "segment"]) == 1
    err = capsys.readouterr().err
    assert "unknown task" in err and "Traceback" not in err
