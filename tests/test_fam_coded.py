"""Stage 3, cloud side: the FAM fine-tuned on real decoded maps and FMVR flows (spikesci.train.fam_coded)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from spikesci.data.recon import SceneBank, SceneMix, build_cache
from spikesci.errors import SpikeSciError
from spikesci.models.codec import CodecConfig, FeatureCodec
from spikesci.train.fam_coded import FamCodedConfig, decoded_windows, finetune_fam, psnr_by_quality

SMALL = CodecConfig(channels=8, hidden=16, latent=16, hyper=8, hyper_hidden=16, context=8, mv_hidden=8,
                    mv_latent=4, mv_hyper=4, fmvr_hidden=8)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from spikesci.models.zoo import load_perception

    try:
        per = load_perception()
    except SpikeSciError:
        pytest.skip("no shipped perception model")
    folder = tmp_path_factory.mktemp("fam_coded")
    bank = SceneBank(build_cache(SceneMix(size=32, frames=150, scenes=2), folder, progress=False))
    torch.manual_seed(0)
    FeatureCodec(SMALL).save(folder / "codec.pt")
    codec = FeatureCodec.load(folder / "codec.pt")
    data = decoded_windows(bank, per, codec, 2, 32, np.random.default_rng(0), np.arange(2), progress=False)
    return per, codec, data


def test_decoded_windows_are_what_a_decoder_sees(parts):
    per, codec, data = parts
    k = 2 * codec.levels
    assert data["feats"].shape == (k, per.maps, 8, 16, 16)
    assert data["flows"].shape == (k, per.maps - 1, 2, 16, 16)
    assert data["truth"].shape == (k, 32, 32)
    assert data["quality"].tolist() == list(range(codec.levels)) * 2
    # the same window at two qualities: same truth, different decoded maps
    assert torch.equal(data["truth"][0], data["truth"][1])
    assert not torch.equal(data["feats"][0], data["feats"][codec.levels - 1])


def test_finetune_keeps_the_best_and_leaves_the_original(parts):
    per, _, data = parts
    original = {k: v.clone() for k, v in per.fam.state_dict().items()}
    cfg = replace(FamCodedConfig(), steps=4, batch=2, eval_every=2, lr=1e-3)
    fam, result = finetune_fam(per.fam, data, data, cfg, progress=False)
    assert np.mean(result["val_psnr_after"]) >= np.mean(result["val_psnr_before"]) - 1e-6
    assert result["val_psnr_after"] == psnr_by_quality(fam, data)
    assert all(torch.equal(v, per.fam.state_dict()[k]) for k, v in original.items())
    assert not any(p.requires_grad for p in fam.parameters())


def test_shipped_codec_uses_its_fine_tuned_fam():
    """When the codec manifest lists a stage-3 FAM for the shipped codec, decoding uses it (checksummed)."""
    import json

    from spikesci import sci
    from spikesci.models.zoo import WEIGHTS_DIR, sha256_file

    try:
        sm = sci.load_model("sci-r2")  # release 2 has a stage-3 FAM file; 3.4 has none
    except SpikeSciError:
        pytest.skip("no shipped codec")
    entry = json.loads((WEIGHTS_DIR / "codec_manifest.json").read_text())["models"]["sci-r2"]
    if not entry.get("fam_file"):
        pytest.skip("no stage-3 FAM shipped")
    assert sha256_file(WEIGHTS_DIR / entry["fam_file"]) == entry["fam_sha256"]
    assert sm.fam is not sm.perception.fam
    a, b = sm.fam.state_dict(), sm.perception.fam.state_dict()
    assert a.keys() != b.keys() or any(not torch.equal(a[k], b[k]) for k in a)  # its own weights (any size)


def test_cli_stage_codec_fam_writes_weights(tmp_path, capsys):
    """`spikesci train --stage codec-fam` on a tiny budget: weights keyed to the shipped codec, a log."""
    import json

    from spikesci import sci
    from spikesci.cli import main as cli_main

    try:
        sm = sci.load_model()
    except SpikeSciError:
        pytest.skip("no shipped codec")
    out = tmp_path / "run"
    assert cli_main(["train", "--stage", "codec-fam", "--out", str(out), "--scenes", "17", "--samples", "2",
                     "--steps", "2", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["codec_sha256"] == sm.checksum and len(summary["val_psnr_after"]) == sm.codec.levels
    blob = torch.load(out / "fam-coded.pt", weights_only=True)
    assert blob["codec_sha256"] == sm.checksum and blob["kind"] == "fam"
    assert (out / "log-fam-coded.jsonl").read_text().strip()


@pytest.mark.parametrize("change, match", [({"samples": 0}, "samples"), ({"scenes": 10}, "scenes"),
                                           ({"crop": 20}, "crop"), ({"crop": 128}, "crop")])
def test_bad_settings_refused_before_any_work(tmp_path, change, match):
    from spikesci.errors import ConfigError
    from spikesci.train.fam_coded import run

    with pytest.raises(ConfigError, match=match):
        run(tmp_path / "out", replace(FamCodedConfig(), **change), progress=False)
    assert not (tmp_path / "out" / "cache").exists()


def test_cli_stage_codec_task_fine_tunes_the_codec_through_the_frozen_fam(tmp_path, capsys):
    """`spikesci train --stage codec-task`: a few steps of R + lambda * (D_feat + D_rec) from the shipped
    codec; the FAM is not touched, the result is a loadable codec that codes differently."""
    import csv
    import json

    from spikesci import sci
    from spikesci.cli import main as cli_main
    from spikesci.errors import ConfigError
    from spikesci.train.codec_stage import run_task_stage

    try:
        sm = sci.load_model("sci-r2")  # the stage fine-tunes release 2 (half-resolution FEM)
    except SpikeSciError:
        pytest.skip("no shipped codec")
    fam_before = {k: v.clone() for k, v in sm.fam.state_dict().items()}
    out = tmp_path / "task"
    assert cli_main(["train", "--stage", "codec-task", "--out", str(out), "--scenes", "2", "--steps", "2",
                     "--batch", "1", "--crop", "32", "--lr", "1e-2", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    tuned = FeatureCodec.load(out / "codec.pt")
    assert tuned.sha256 == summary["sha256"] != sm.checksum
    assert tuned.meta["config"]["task_weight"] == 0.01 and tuned.meta["fem_sha256"]
    rows = list(csv.DictReader(open(out / "log-codec.csv")))
    assert len(rows) == 2 and all(float(r["psnr"]) > 0 for r in rows)
    assert all(torch.equal(v, fam_before[k]) for k, v in sm.fam.state_dict().items())
    feats = torch.randn(2, 8, 16, 16)
    assert tuned.compress(feats, 0)[0] != sm.codec.compress(feats, 0)[0]
    with pytest.raises(ConfigError, match="task-weight"):
        run_task_stage(tmp_path / "bad", task_weight=0.0, progress=False)
