"""Training: a step lowers the loss, the stage loops write weights/logs/checkpoints, resume, DDP on 2 CPUs."""

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from spikesci.cli import main as cli_main
from spikesci.data.recon import SceneBank, SceneMix, build_cache
from spikesci.models.analysis import FAM, FAM_PRESETS
from spikesci.models.extract import FEM, LightHead, laplacian_loss
from spikesci.train.config import TrainConfig
from spikesci.train.loop import train

TINY_MIX = SceneMix(size=32, frames=130, scenes=3)
TINY_FAM = replace(FAM_PRESETS["lite"], width=8, blocks=1, align_width=6, flow_width=8, offset_width=8,
                   up_width=4)


def tiny_config(**kw) -> TrainConfig:
    base = TrainConfig(fem_steps=3, fam_steps=2, batch=2, crop=16, val_scenes=1, val_every=2, ckpt_every=1,
                       data=TINY_MIX, fam=TINY_FAM, threads=1)
    return replace(base, **kw)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    build_cache(TINY_MIX, folder, progress=False)
    build_cache(replace(TINY_MIX, split="heldout", scenes=1), folder, progress=False)
    return folder


def test_scene_bank_crops_and_windows(cache):
    bank = SceneBank(build_cache(TINY_MIX, cache, progress=False))
    x, y = bank.sample(np.random.default_rng(0), 3, 16, np.array([-20, 0, 20]), 46, 39)
    assert x.shape == (3, 3, 46, 16, 16) and x.dtype == np.uint8 and set(np.unique(x)) <= {0, 1}
    assert y.shape == (3, 16, 16) and 0 <= y.min() and y.max() <= 1
    # consecutive maps 20 frames apart share 26 frames of their windows
    assert np.array_equal(x[:, 0, 20:], x[:, 1, :26])


def test_one_step_lowers_the_loss(cache):
    torch.manual_seed(0)
    bank = SceneBank(build_cache(TINY_MIX, cache, progress=False))
    x, y = bank.sample(np.random.default_rng(1), 4, 16, np.array([0]), 46, 39)
    x, y = torch.from_numpy(x[:, 0]).float(), torch.from_numpy(y)
    fem, head = FEM(), LightHead()
    opt = torch.optim.Adam(list(fem.parameters()) + list(head.parameters()), lr=2e-3)

    def loss():
        f = fem(x)
        return torch.nn.functional.mse_loss(head(f)[:, 0], y) + 0.002 * laplacian_loss(f)

    first = loss()
    for _ in range(3):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < first.item()

    fam = FAM(TINY_FAM)
    feats = torch.randn(2, 5, 8, 8, 8)
    target = torch.rand(2, 1, 16, 16)
    opt = torch.optim.Adam(fam.parameters(), lr=1e-3)
    before = torch.nn.functional.mse_loss(fam(feats), target).item()
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(fam(feats), target).backward()
        opt.step()
    assert torch.nn.functional.mse_loss(fam(feats), target).item() < before


def test_stages_write_weights_logs_and_resume(cache, tmp_path):
    cfg = tiny_config()
    train(cfg, tmp_path, cache=cache, progress=False)
    for name in ("fem.pt", "fam.pt", "config.json", "ckpt-fem.pt", "ckpt-fam.pt", "log-fem.csv",
                 "log-fam.csv"):
        assert (tmp_path / name).exists(), name
    assert TrainConfig.load(tmp_path / "config.json") == cfg
    rows = list(csv.DictReader((tmp_path / "log-fam.csv").open()))
    assert rows[-1]["step"] == "2" and float(rows[-1]["val_psnr"]) > 0
    # resume: more steps continue from the checkpoint (step 3 of fem is not redone)
    more = replace(cfg, stage="fem", fem_steps=5)
    train(more, tmp_path, resume=True, cache=cache, progress=False)
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "log-fem.csv").open())]
    assert steps[-1] == 5 and steps.count(3) == 1


def test_cli_train_refuses_missing_fem(tmp_path):
    code = cli_main(["train", "--stage", "fam", "--out", str(tmp_path / "none"), "--steps", "1",
                     "--fem", str(tmp_path / "missing.pt"), "--scenes", "1", "--no-progress"])
    assert code == 1


def test_ddp_two_cpu_processes(cache, tmp_path):
    cfg = tiny_config(batch=4)
    cfg_path = tmp_path / "tiny.json"
    cfg.save(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29571",
           "-m", "spikesci.train", "--config", str(cfg_path), "--stage", "all",
           "--out", str(tmp_path / "ddp"),
           "--cache", str(cache), "--no-progress", "--threads", "1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "ddp" / "fam.pt").exists()
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["out"].endswith("ddp")


def test_cli_train_refuses_recipe_flags_on_other_stages(tmp_path, capsys):
    for flag, value in (("--loss", "mse"), ("--data-mix", "spike-reds"), ("--crop", "96")):
        code = cli_main(["train", "--stage", "codec3", "--out", str(tmp_path / "none"), flag, value])
        assert code != 0 and not (tmp_path / "none").exists()
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and flag in err[0] and "Traceback" not in err[0]
