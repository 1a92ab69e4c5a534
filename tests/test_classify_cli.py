"""Shipped classification heads and `spikesci classify`: accuracy on fresh clips, JSON output, bad input."""

import json

import numpy as np
import pytest

from spikesci.cli import main
from spikesci.data.classify import DATASETS, generate_split
from spikesci.errors import SpikeSciError
from spikesci.io.dat import write_dat
from spikesci.io.npz import write_npz
from spikesci.tasks.classify import available_models, classify_features, load_classifier


def _require(model: str):
    try:
        return load_classifier(model)
    except SpikeSciError as exc:  # weights not shipped in this build (the FEM's or the head's)
        pytest.skip(f"model {model} not available: {exc}")


@pytest.fixture(scope="module")
def digits_batch():
    """The first 16 clips of the S-DIGITS test split (never seen in training), generated afresh."""
    spikes, labels = next(generate_split(DATASETS["s-digits"], "test", progress=False))
    return spikes, labels


@pytest.mark.parametrize("model,floor", [("s-digits", 0.6), ("s-digits-tfp", 0.3)])
def test_shipped_head_beats_chance(digits_batch, model, floor):
    classifier = _require(model)
    spikes, labels = digits_batch
    preds = [classifier.predict(s)[0] for s in spikes]
    assert np.mean(np.asarray(preds) == labels) >= floor  # chance is 0.1


def test_manifest_lists_shipped_heads():
    names = available_models()
    if not names:
        pytest.skip("no classification heads shipped")
    assert {"s-digits", "s-animals", "s-natural"} & set(names)


def test_cli_classify_json(digits_batch, tmp_path, capsys):
    classifier = _require("s-digits")
    spikes, labels = digits_batch
    path = tmp_path / "clip.npz"
    write_npz(path, spikes[0], label=int(labels[0]))
    assert main(["classify", str(path), "--model", "s-digits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"label", "probabilities", "label_name", "classes"}
    assert len(out["probabilities"]) == 10 and abs(sum(out["probabilities"]) - 1) < 1e-4
    assert out["label"] == int(np.argmax(out["probabilities"])) and out["file_label"] == labels[0]
    # decoded-feature entry point gives the same answer on the same features
    from spikesci.tasks.classify import _source

    f = _source(classifier.meta["source"], classifier.meta.get("source_key"))(spikes[0])
    label, probs = classify_features(f.numpy(), "s-digits")
    assert label == out["label"] and np.allclose(probs, out["probabilities"], atol=1e-5)
    # a .dat clip of another size is read too (features resized to the trained size); text output
    dat = tmp_path / "clip.dat"
    write_dat(dat, np.tile(spikes[0], (1, 2, 2)))
    assert main(["classify", str(dat), "--height", "128", "--width", "128", "--model", "s-digits"]) == 0
    assert "class" in capsys.readouterr().out


def test_cli_classify_bad_input(tmp_path, capsys):
    assert main(["classify", str(tmp_path / "missing.npz")]) == 1
    assert "no such file" in capsys.readouterr().err
    txt = tmp_path / "clip.txt"
    txt.write_text("hello")
    assert main(["classify", str(txt)]) == 1
    assert "classify reads .dat or .npz" in capsys.readouterr().err
    short = tmp_path / "short.npz"
    write_npz(short, np.zeros((5, 16, 16), np.uint8))
    assert main(["classify", str(short), "--model", "no-such-model"]) == 1
    assert "unknown classification model" in capsys.readouterr().err
    if available_models():
        assert main(["classify", str(short), "--model", available_models()[0]]) == 1
        assert "frames" in capsys.readouterr().err
    with pytest.raises(SpikeSciError):
        classify_features(np.zeros((2, 3)), available_models()[0] if available_models() else "none")


def test_bench_classify_on_an_npz_folder(digits_batch, tmp_path, capsys):
    _require("s-digits")
    spikes, labels = digits_batch
    folder = tmp_path / "set" / "test"
    folder.mkdir(parents=True)
    for i in range(8):
        write_npz(folder / f"clip{i}.npz", spikes[i], label=int(labels[i]))
    out = tmp_path / "bench.json"
    argv = ["bench", "classify", "--dataset", str(tmp_path / "set"), "--model", "s-digits", "--no-codec"]
    assert main([*argv, "--json", str(out), "--out-dir", str(tmp_path)]) == 0
    result = json.loads(out.read_text())[str(tmp_path / "set")]
    assert result["samples"] == 8 and result["points"] == [] and 0.5 <= result["raw_accuracy"] <= 1
    assert len(result["report"]["classes"]) == 10 and (tmp_path / "confusion_set.png").stat().st_size > 1000
    assert "precision" in capsys.readouterr().out


def test_classify_decoded_sci_stream(digits_batch, tmp_path):
    """Spikes -> .sci bytes -> decoded features -> label: the codec's `decode --task classify` path."""
    _require("s-digits")
    sci = pytest.importorskip("spikesci.sci")
    try:
        sci.load_model()
    except SpikeSciError as exc:
        pytest.skip(f"codec not shipped: {exc}")
    from spikesci.tasks.classify import decode_task

    spikes, labels = digits_batch
    path = tmp_path / "clip.sci"
    stats = sci.encode_spikes(spikes[0], path, sci.QUALITIES[-1])
    assert stats["bpp"] < 0.2
    _, header, features, _ = sci.decode_features(path)
    out = decode_task(features, header)
    assert set(out) >= {"label", "probabilities", "label_name"} and len(out["probabilities"]) == 10
    assert abs(sum(out["probabilities"]) - 1) < 1e-4


def test_a_stream_gets_the_head_of_its_own_fem_and_codec(tmp_path, monkeypatch):
    """Learned-codec streams carry release-2 maps, x265 streams release-3 maps: each must get the head
    trained on its FEM, fine-tuned through its codec when one is, whatever family name the user gives."""
    from spikesci.tasks import classify as cls

    models = {
        "s-animals": {"source_key": "fem-aaaaaaaaaaaa", "codec": None},
        "s-animals-coded": {"source_key": "fem-aaaaaaaaaaaa", "codec": "sci"},
        "s-animals-r3": {"source_key": "fem-bbbbbbbbbbbb", "codec": None},
        "s-animals-r3-coded": {"source_key": "fem-bbbbbbbbbbbb", "codec": "x265"},
        "s-animals-tfp": {"source_key": "tfp41x1", "codec": None},
    }
    manifest = tmp_path / "classify_manifest.json"
    manifest.write_text(json.dumps({"models": models}))
    monkeypatch.setattr(cls, "MANIFEST", manifest)
    x265 = {"fem_sha256": "b" * 64, "model": "x265"}
    learned = {"fem_sha256": "a" * 64, "model": "sci"}
    assert cls.head_for_stream("s-animals", x265) == "s-animals-r3-coded"
    assert cls.head_for_stream("s-animals-r3", x265) == "s-animals-r3-coded"
    assert cls.head_for_stream("s-animals", learned) == "s-animals-coded"
    assert cls.head_for_stream("s-animals", {"fem_sha256": "b" * 64, "model": "svt"}) == "s-animals-r3"
    both = ("s-animals-r3", "s-animals-r3-coded")
    assert cls.shipped_heads("s-animals", "fem-bbbbbbbbbbbb", "x265") == both
    assert cls.shipped_heads("s-digits", "fem-bbbbbbbbbbbb", "x265") == (None, None)
    # an old stream without an FEM checksum, or the user's own checkpoint, keeps the old rule
    assert cls.head_for_stream("s-animals", {}) == "s-animals-coded"
    assert cls.head_for_stream("mine.pt", x265) == "mine.pt"


def test_bench_classify_takes_the_heads_of_the_codecs_fem():
    """`bench classify` scores the heads of the codec's FEM: release 3.4 for x265 and the learned codec (no
    head was tuned on the learned codec's decoded maps), release 2 for the earlier learned codec."""
    from spikesci.tasks.evaluate import codec_heads

    release = "r3.4"  # heads are named after the release that trained the FEM (CAAS_MODEL, 3.9, shares it)
    if f"s-animals-{release}-coded" not in available_models():
        pytest.skip("heads of the x265 codec's FEM not shipped")
    pytest.importorskip("spikesci.sci")
    assert codec_heads("s-animals", "x265") == (f"s-animals-{release}", f"s-animals-{release}-coded")
    assert codec_heads("s-animals") == (f"s-animals-{release}", None)
    assert codec_heads("s-animals", "sci-r2")[0] == "s-animals"  # release 2's FEM
