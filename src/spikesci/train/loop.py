"""Stage loops: stage 1 (FEM + light head + Laplacian constraint), stage 2 (FAM, FEM frozen, MSE).

Each stage checkpoints every `ckpt_every` steps (models, optimizer, schedule, random states) to
OUT/ckpt-<stage>.pt and resumes from it with `resume=True`; logs one CSV row per logged step to
OUT/log-<stage>.csv; writes its final weights to OUT/fem.pt or OUT/fam.pt ({"config", "state"}).
Under torchrun (WORLD_SIZE > 1) it runs DistributedDataParallel (gloo on CPU, NCCL on CUDA): every rank
draws its own crops (seeded by rank, the random-crop analogue of a distributed sampler), the batch is split
across ranks, and only rank 0 writes files.
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from spikesci.data.recon import SceneBank, build_cache
from spikesci.errors import SpikeSciError
from spikesci.models.analysis import FAM
from spikesci.models.extract import FEM, LightHead, laplacian_loss
from spikesci.models.layers import warp
from spikesci.train.config import TrainConfig


class Dist:
    """Rank / world size, and whether this process writes (rank 0)."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.on = self.world > 1
        if self.on and not torch.distributed.is_initialized():
            backend = "nccl" if device.startswith("cuda") else "gloo"
            torch.distributed.init_process_group(backend)
        self.main = self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if not self.on:
            return model
        return nn.parallel.DistributedDataParallel(model)

    def barrier(self) -> None:
        if self.on:
            torch.distributed.barrier()


def psnr_t(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = F.mse_loss(x.clamp(0, 1), y).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def save_weights(path: Path, kind: str, config, state: dict, extra: dict | None = None) -> None:
    """Final weights: {"kind", "config" (dict), "state" (float32 state dict), ...}."""
    state = {k: v.detach().float().cpu() for k, v in state.items()}
    torch.save({"kind": kind, "config": config.to_dict(), "state": state, **(extra or {})}, path)


def load_fem(path: str | Path, device: str = "cpu") -> FEM:
    from spikesci.models.extract import FEMConfig

    blob = torch.load(path, map_location=device, weights_only=True)
    fem = FEM(FEMConfig.from_dict(blob["config"]))
    fem.load_state_dict(blob["state"])
    return fem.to(device)


class Stage:
    """One training stage: the step function, the checkpoint and the log."""

    def __init__(self, name: str, cfg: TrainConfig, out: Path, dist: Dist, steps: int, params, modules: dict,
                 progress: bool):
        self.name, self.cfg, self.out, self.dist, self.steps = name, cfg, out, dist, steps
        self.modules = modules
        self.opt = torch.optim.Adam(params, lr=cfg.lr)
        warm = max(1, min(100, steps // 20))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / warm) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(
                s / max(steps, 1), 1.0)))))
        self.rng = np.random.default_rng([cfg.seed, dist.rank, {"fem": 1, "fam": 2}.get(name, 3)])
        self.step = 0
        self.elapsed = 0.0
        self.progress = progress and dist.main
        self.ckpt = out / f"ckpt-{name}.pt"
        self.log_path = out / f"log-{name}.csv"

    def resume(self) -> bool:
        if not self.ckpt.exists():
            return False
        blob = torch.load(self.ckpt, map_location=self.cfg.device, weights_only=False)
        for k, m in self.modules.items():
            m.load_state_dict(blob["modules"][k])
        self.opt.load_state_dict(blob["opt"])
        self.sched.load_state_dict(blob["sched"])
        self.step, self.elapsed = blob["step"], blob.get("elapsed", 0.0)
        self.rng.bit_generator.state = blob["rng"][self.dist.rank % len(blob["rng"])]
        torch.set_rng_state(blob["torch_rng"])
        return True

    def checkpoint(self) -> None:
        if not self.dist.main:
            return
        blob = {"modules": {k: m.state_dict() for k, m in self.modules.items()}, "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "step": self.step, "elapsed": self.elapsed,
                "rng": [self.rng.bit_generator.state], "torch_rng": torch.get_rng_state()}
        tmp = self.ckpt.with_suffix(".part")
        torch.save(blob, tmp)
        tmp.replace(self.ckpt)

    def log(self, row: dict) -> None:
        if not self.dist.main:
            return
        new = not self.log_path.exists()
        if new or not hasattr(self, "_fields"):
            self._fields = [k for k in row if not k.startswith("val")] + ["val_psnr"]
            if not new:  # resuming: keep the header already in the file
                with self.log_path.open() as f:
                    self._fields = next(csv.reader(f), self._fields)
        with self.log_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields, restval="", extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def run(self, step_fn, val_fn) -> None:
        bar = tqdm(total=self.steps, initial=self.step, desc=f"train {self.name}", disable=not self.progress)
        avg: dict[str, float] = {}
        while self.step < self.steps:
            t0 = time.time()
            self.opt.zero_grad(set_to_none=True)
            loss, parts = step_fn(self.rng)
            loss.backward()
            self.opt.step()
            self.sched.step()
            self.step += 1
            self.elapsed += time.time() - t0
            for k, v in parts.items():
                avg[k] = 0.9 * avg.get(k, v) + 0.1 * v
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in avg.items()})
            last = self.step == self.steps
            if self.step % 25 == 0 or last:
                row = {"step": self.step, "seconds": round(self.elapsed, 1),
                       "lr": self.sched.get_last_lr()[0],
                       **{k: round(v, 6) for k, v in parts.items()}}
                if self.step % self.cfg.val_every == 0 or last:
                    row.update(val_fn())
                    bar.write(f"[{self.name} {self.step}] " + ", ".join(
                        f"{k}={v:.3f}" for k, v in row.items() if k.startswith("val")))
                self.log(row)
            if self.step % self.cfg.ckpt_every == 0 or last:
                self.checkpoint()
        bar.close()


def _tensor(x: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(x).to(device)


def train_fem(cfg: TrainConfig, out: Path, bank: SceneBank, val: SceneBank, dist: Dist, resume: bool,
              progress: bool) -> FEM:
    dev = cfg.device
    fem, head = FEM(cfg.fem).to(dev), LightHead(cfg.fem.channels).to(dev)
    fem_d, head_d = dist.wrap(fem), dist.wrap(head)
    stage = Stage("fem", cfg, out, dist, cfg.fem_steps, list(fem.parameters()) + list(head.parameters()),
                  {"fem": fem, "head": head}, progress)
    if resume and stage.resume() and dist.main:
        print(f"resumed stage fem at step {stage.step}")
    times = np.array([0])
    per_rank = max(1, cfg.batch // dist.world)
    vx, vy = val.sample(np.random.default_rng(12345), 4 * cfg.val_scenes, cfg.crop, times, cfg.fem.window,
                        cfg.fem.lookback)

    def step_fn(rng):
        x, y = bank.sample(rng, per_rank, cfg.crop, times, cfg.fem.window, cfg.fem.lookback)
        feat = fem_d(_tensor(x[:, 0], dev).float())
        pred = head_d(feat)
        mse = F.mse_loss(pred[:, 0], _tensor(y, dev))
        lap = laplacian_loss(feat)
        loss = mse + cfg.lap_weight * lap
        return loss, {"mse": mse.item(), "lap": lap.item()}

    @torch.no_grad()
    def val_fn():
        fem.eval(), head.eval()
        preds = [head(fem(_tensor(vx[i:i + 16, 0], dev).float())) for i in range(0, len(vx), 16)]
        fem.train(), head.train()
        return {"val_psnr": psnr_t(torch.cat(preds)[:, 0], _tensor(vy, dev))}

    stage.run(step_fn, val_fn)
    if dist.main:
        save_weights(out / "fem.pt", "fem", cfg.fem, fem.state_dict())
        save_weights(out / "fem-head.pt", "fem-head", cfg.fem, head.state_dict())
    dist.barrier()
    return fem


def feature_windows(fem: FEM, x: np.ndarray, device: str) -> torch.Tensor:
    """(B, N, window, h, w) spikes -> (B, N, C, h/2, w/2) features, no gradient (FEM frozen)."""
    b, n = x.shape[:2]
    with torch.no_grad():
        f = fem(_tensor(x.reshape(b * n, *x.shape[2:]), device).float())
    return f.view(b, n, *f.shape[1:])


def train_fam(cfg: TrainConfig, out: Path, bank: SceneBank, val: SceneBank, dist: Dist, resume: bool,
              progress: bool, fem: FEM) -> FAM:
    dev = cfg.device
    fem.eval()
    for p in fem.parameters():
        p.requires_grad_(False)
    fam = FAM(replace(cfg.fam, channels=cfg.fem.channels)).to(dev)
    fam_d = dist.wrap(fam)
    stage = Stage("fam", cfg, out, dist, cfg.fam_steps, list(fam.parameters()), {"fam": fam}, progress)
    if resume and stage.resume() and dist.main:
        print(f"resumed stage fam at step {stage.step}")
    n = cfg.fam.maps
    times = cfg.fem.stride * (np.arange(n) - n // 2)
    per_rank = max(1, cfg.batch // dist.world)
    vx, vy = val.sample(np.random.default_rng(12345), 4 * cfg.val_scenes, cfg.crop, times, cfg.fem.window,
                        cfg.fem.lookback)
    vfeat = torch.cat([feature_windows(fem, vx[i:i + 8], dev) for i in range(0, len(vx), 8)])

    def step_fn(rng):
        x, y = bank.sample(rng, per_rank, cfg.crop, times, cfg.fem.window, cfg.fem.lookback)
        feat = feature_windows(fem, x, dev)
        flows = fam.estimate_flows(feat) if cfg.flow_weight > 0 else None
        pred = fam_d(feat, flows)
        mse = F.mse_loss(pred[:, 0], _tensor(y, dev))
        parts = {"mse": mse.item()}
        loss = mse
        if flows is not None:
            b, m, c, h, w = feat.shape
            warped = warp(feat[:, :-1].reshape(-1, c, h, w), flows.reshape(-1, 2, h, w))
            fl = (warped - feat[:, 1:].reshape(-1, c, h, w)).abs().mean() / (feat.std() + 1e-3)
            loss = loss + cfg.flow_weight * fl
            parts["flow"] = fl.item()
        return loss, parts

    @torch.no_grad()
    def val_fn():
        fam.eval()
        preds = torch.cat([fam(vfeat[i:i + 8]) for i in range(0, len(vfeat), 8)])
        fam.train()
        return {"val_psnr": psnr_t(preds[:, 0], _tensor(vy, dev))}

    stage.run(step_fn, val_fn)
    if dist.main:
        save_weights(out / "fam.pt", "fam", fam.config, fam.state_dict())
    dist.barrier()
    return fam


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, fem_path: str | Path | None = None,
          cache: str | Path | None = None, progress: bool = True) -> dict:
    """Run the stages of `cfg.stage` into folder `out`; returns a summary (wall time, final val PSNRs)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    fem_file = Path(fem_path) if fem_path else out / "fem.pt"
    if cfg.stage == "fam" and not fem_file.exists():
        raise SpikeSciError(f"{fem_file}: no trained FEM (run --stage fem first, or pass --fem)")
    dist = Dist(cfg.device)
    cache = Path(cache) if cache else out / "cache"
    if dist.main:
        cfg.save(out / "config.json")
        build_cache(cfg.data, cache, progress)
        build_cache(val_mix(cfg), cache, progress)
    dist.barrier()
    bank = SceneBank(build_cache(cfg.data, cache, False))
    val = SceneBank(build_cache(val_mix(cfg), cache, False))
    t0 = time.time()
    fem = None
    if cfg.stage in ("fem", "all"):
        fem = train_fem(cfg, out, bank, val, dist, resume, progress)
    if cfg.stage in ("fam", "all"):
        if fem is None:
            fem = load_fem(fem_file, cfg.device)
        train_fam(cfg, out, bank, val, dist, resume, progress, fem)
    return {"seconds": round(time.time() - t0, 1), "out": str(out)}


def val_mix(cfg: TrainConfig):
    """Validation scenes: held-out images, unseen seeds, the same motion mix."""
    return replace(cfg.data, split="heldout", scenes=cfg.val_scenes)
