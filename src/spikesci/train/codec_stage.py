"""Stage 3 (paper Fig. 7c): train the feature codec between the frozen FEM and the FAM, R + lambda * D.

Each step draws a batch of feature GOPs from cached simulated scenes, picks one quality (round robin) and
minimises bpp + lambda_q * D, where bpp counts estimated bits per spike-pixel (bits / (H * W * stride * maps))
and D is the feature MSE relative to the feature variance, plus (task_weight > 0) the reconstruction MSE of
the FAM on the decoded maps and FMVR-refined flows (the FAM is fine-tuned with the decoder, Fig. 7c), plus a
small warp-consistency term that teaches FMVR. Source "luma" (features made from ground-truth luminance)
pre-trains the transforms before a FEM exists; source "fem" uses the shipped (or given) FEM.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from spikesci.models.codec import CodecConfig, FeatureCodec
from spikesci.models.codec.exact import unfreeze_all, warp


@dataclass(frozen=True)
class CodecTrainConfig:
    steps: int = 3000
    batch: int = 4
    maps: int = 3  # GOP length per sample (5 when the FAM is in the loss)
    crop: int = 96  # image pixels (features are crop / 2; the cached scenes are 96 x 96)
    lr: float = 1e-3
    lambdas: tuple[float, ...] = (1.0, 4.0, 16.0, 96.0)  # one per quality, low to high
    lowpass: float = 4.0  # extra weight on low-frequency feature error (the FAM is most sensitive to it)
    step_lr: float = 10.0  # learning-rate multiplier of the per-quality quantisation steps
    source: str = "luma"  # luma | fem
    stride: int = 20  # spike frames between maps (the FEM's)
    task_weight: float = 0.0  # weight of the FAM reconstruction MSE (0 = feature MSE only)
    feature_weight: float = 1.0  # weight of the feature MSE (lower: the task loss decides what is kept)
    flow_weight: float = 0.05  # FMVR warp-consistency weight
    mv_weight: float = 0.05  # decoded motion vs block-matching motion (px)
    seed: int = 0
    threads: int = 1
    ckpt_every: int = 200
    codec: CodecConfig = field(default_factory=CodecConfig)

    def to_dict(self) -> dict:
        return asdict(self)


class LumaSource:
    """Feature-like maps from ground-truth luminance (pre-training before the FEM exists): C fixed mixtures
    of the half-resolution luminance, a blurred copy and its gradients, at map times `stride` apart."""

    def __init__(self, bank, channels: int, stride: int, seed: int = 0):
        self.bank, self.stride = bank, stride
        g = torch.Generator().manual_seed(1234)
        self.mix = torch.randn(channels, 4, generator=g)

    def sample(self, rng: np.random.Generator, batch: int, maps: int, crop: int):
        lum = self.bank.luminance
        frames, size = lum.shape[1], lum.shape[-1]
        out = []
        for _ in range(batch):
            i = int(rng.integers(len(lum)))
            t0 = int(rng.integers(0, frames - self.stride * (maps - 1)))
            y0, x0 = rng.integers(0, size - crop + 1, 2)
            seq = lum[i, t0:t0 + self.stride * maps:self.stride, y0:y0 + crop, x0:x0 + crop]
            out.append(seq.astype(np.float32))
        x = F.avg_pool2d(torch.from_numpy(np.stack(out)), 2)  # (B, N, h, w)
        blur = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
        gx = blur - torch.roll(blur, 1, -1)
        gy = blur - torch.roll(blur, 1, -2)
        basis = torch.stack([x - 0.5, blur - 0.5, 4 * gx, 4 * gy], 2)  # (B, N, 4, h, w)
        feats = torch.einsum("ck,bnkhw->bnchw", self.mix, basis)
        mid = out[0].shape[0] // 2
        truth = torch.from_numpy(np.stack([o[mid] for o in out]))
        return feats, truth


class FemSource:
    """FEM features of spike windows at map times `stride` apart (FEM frozen), truth at the centre map."""

    def __init__(self, bank, fem):
        self.bank, self.fem = bank, fem.eval()
        for p in self.fem.parameters():
            p.requires_grad_(False)

    def sample(self, rng: np.random.Generator, batch: int, maps: int, crop: int):
        cfg = self.fem.config
        times = cfg.stride * (np.arange(maps) - maps // 2)
        x, y = self.bank.sample(rng, batch, crop, times, cfg.window, cfg.lookback)
        with torch.no_grad():
            f = self.fem(torch.from_numpy(x.reshape(batch * maps, *x.shape[2:])).float())
        return f.view(batch, maps, *f.shape[1:]), torch.from_numpy(y)


def _rel_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(a, b) / (b.var() + 1e-6)


def train_codec(cfg: CodecTrainConfig, out: str | Path, source, init: str | Path | None = None,
                fam=None, resume: bool = False, progress: bool = True,
                reset_mv: bool = False) -> FeatureCodec:
    """Run `cfg.steps` steps into folder `out` (checkpoint, CSV log, final codec.pt); returns the codec."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    (out / "codec-config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    codec = FeatureCodec.load(init) if init else FeatureCodec(cfg.codec)
    if codec.config.fold != cfg.codec.fold:  # e.g. a release-2 codec taking a full-resolution FEM's maps
        codec.config = replace(codec.config, fold=cfg.codec.fold)
    if init and reset_mv:
        torch.nn.init.zeros_(codec.inter.mv_s[-1].weight)
        torch.nn.init.zeros_(codec.inter.mv_s[-1].bias)
    unfreeze_all(codec)
    codec.train()
    steps_p = [p for n, p in codec.named_parameters() if n.endswith("log_step")]
    other = [p for n, p in codec.named_parameters() if not n.endswith("log_step")]
    other += list(fam.parameters()) if fam is not None else []
    params = steps_p + other
    opt = torch.optim.Adam([{"params": other, "scale": 1.0}, {"params": steps_p, "scale": cfg.step_lr}],
                           lr=cfg.lr)
    step = 0
    ckpt = out / "ckpt-codec.pt"
    if resume and ckpt.exists():
        blob = torch.load(ckpt, weights_only=False)
        codec.load_state_dict(blob["codec"])
        opt.load_state_dict(blob["opt"])
        if fam is not None and "fam" in blob:
            fam.load_state_dict(blob["fam"])
        step = blob["step"]
    rng = np.random.default_rng([cfg.seed, step])
    log = open(out / "log-codec.csv", "a", newline="")
    writer = csv.writer(log)
    q_count = len(cfg.lambdas)
    pixels = getattr(source, "pixels_per_feature", 4)  # image pixels per feature pixel (half resolution: 4)
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc="codec")
    t0 = time.time()
    while step < cfg.steps:
        quality = step % q_count
        lr = cfg.lr * (0.1 if step > 0.85 * cfg.steps else 1.0)
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        feats, truth = source.sample(rng, cfg.batch, cfg.maps, cfg.crop)
        res = codec(feats, quality)
        b, n, c, h, w = feats.shape
        bpp = res["bits"] / (b * n * pixels * h * w * cfg.stride)
        dist = _rel_mse(res["x_hat"], feats)
        if cfg.lowpass > 0:
            low = [F.avg_pool2d(t.reshape(b * n, c, h, w), 4) for t in (res["x_hat"], feats)]
            dist = dist + cfg.lowpass * _rel_mse(*low)
        loss = bpp + cfg.lambdas[quality] * cfg.feature_weight * dist + cfg.mv_weight * res["mv_err"]
        row = {"step": step, "q": quality, "bpp": bpp.item(), "fmse": dist.item(), "mv": res["mv_err"].item()}
        if n > 1 and cfg.flow_weight > 0:
            xh = res["x_hat"]
            wp = warp(xh[:, :-1].reshape(-1, c, h, w), res["flows"].reshape(-1, 2, h, w))
            fl = (wp - xh[:, 1:].reshape(-1, c, h, w)).abs().mean() / (feats.std() + 1e-3)
            loss = loss + cfg.flow_weight * fl
            row["flow"] = fl.item()
        if fam is not None and cfg.task_weight > 0:
            pred = fam(res["x_hat"], res["flows"])[:, 0]
            mse = F.mse_loss(pred, truth)
            loss = loss + cfg.lambdas[quality] * cfg.task_weight * mse / 0.01
            row["psnr"] = 10 * math.log10(1 / max(F.mse_loss(pred.clamp(0, 1), truth).item(), 1e-10))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step == 1:
            writer.writerow(list(row))
        writer.writerow([f"{v:.5g}" if isinstance(v, float) else v for v in row.values()])
        bar.update(1)
        bar.set_postfix(q=quality, bpp=f"{row['bpp']:.4f}", fmse=f"{row['fmse']:.4f}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            log.flush()
            blob = {"codec": codec.state_dict(), "opt": opt.state_dict(), "step": step}
            if fam is not None:
                blob["fam"] = fam.state_dict()
            torch.save(blob, ckpt)
    bar.close()
    log.close()
    codec.eval()
    meta = {"steps": cfg.steps, "seconds": round(time.time() - t0, 1), "config": cfg.to_dict()}
    codec.save(out / "codec.pt", meta)
    return codec


def run_stage(out: str | Path, steps: int | None = None, batch: int | None = None, crop: int | None = None,
              lr: float | None = None, seed: int = 0, threads: int | None = None,
              cache: str | Path | None = None, resume: bool = False, fem: str | Path | None = None,
              init: str | Path | None = None, scenes: int | None = None, progress: bool = True) -> dict:
    """`spikesci train --stage codec`: simulated scenes (cached) -> FEM features (frozen shipped FEM, or
    `fem`) -> codec trained at every quality -> OUT/codec.pt. Returns a summary."""

    from spikesci.data.recon import SceneBank, SceneMix, build_cache

    cfg = CodecTrainConfig(source="fem", seed=seed, ckpt_every=50)
    for name, value in (("steps", steps), ("batch", batch), ("crop", crop), ("lr", lr), ("threads", threads)):
        if value is not None:
            cfg = replace(cfg, **{name: value})
    mix = SceneMix(scenes=scenes or 160, seed=5)
    out = Path(out)
    bank = SceneBank(build_cache(mix, Path(cache) if cache else out / "cache", progress))
    if fem:
        from spikesci.train.loop import load_fem

        fem_model, perception, fem_sha = load_fem(fem), "custom", None
    else:
        from spikesci.models.zoo import DEFAULT_MODEL, load_perception, read_manifest

        fem_model, perception = load_perception().fem, DEFAULT_MODEL
        entry = read_manifest()["models"][DEFAULT_MODEL]
        fem_sha = entry["sha256"][entry["files"]["fem"]]
    t0 = time.time()
    codec = train_codec(cfg, out, FemSource(bank, fem_model), init=init, resume=resume, progress=progress)
    meta = {"perception": perception, "fem_sha256": fem_sha, "steps": cfg.steps,
            "seconds": round(time.time() - t0, 1), "data": asdict(mix), "config": cfg.to_dict()}
    sha = codec.save(out / "codec.pt", meta)
    return {"out": str(out / "codec.pt"), "sha256": sha, "seconds": meta["seconds"]}


def run_task_stage(out: str | Path, steps: int | None = None, batch: int | None = None,
                   crop: int | None = None, lr: float | None = None, seed: int = 0,
                   threads: int | None = None,
                   cache: str | Path | None = None, resume: bool = False, init: str | Path | None = None,
                   task_weight: float = 0.01, feature_weight: float = 0.1, scenes: int | None = None,
                   progress: bool = True) -> dict:
    """`spikesci train --stage codec-task`: fine-tune a trained codec (default: release 2, 'sci-r2') with the
    task loss through the frozen stage-3 FAM that decodes its streams, R + lambda_q * (feature_weight * D_feat
    + task_weight * D_rec) (paper Fig. 7c). The FAM stays as it is, so its weights file keeps serving the
    result. Writes OUT/codec.pt; returns a summary."""

    from spikesci import sci
    from spikesci.data.recon import SceneBank, SceneMix, build_cache
    from spikesci.errors import ConfigError
    from spikesci.models.zoo import WEIGHTS_DIR

    if task_weight <= 0 or feature_weight < 0:
        raise ConfigError("codec-task: --task-weight must be positive and --feature-weight not negative")
    shipped = sci.load_model("sci-r2")  # release 2 (half-resolution FEM); its successor: --stage codec3
    fam = shipped.fam.eval()
    for p in fam.parameters():
        p.requires_grad_(False)
    init = Path(init) if init else WEIGHTS_DIR / "codec-sci.pt"
    if not init.is_file():
        raise ConfigError(f"codec-task: --init {init}: no such codec file")
    FeatureCodec.load(init)  # a damaged or foreign file is refused here, before any data is built
    cfg = CodecTrainConfig(source="fem", steps=1500, batch=4, maps=fam.config.maps, crop=64, lr=3e-4,
                           task_weight=task_weight, feature_weight=feature_weight, seed=seed, threads=1,
                           ckpt_every=50)
    for name, value in (("steps", steps), ("batch", batch), ("crop", crop), ("lr", lr), ("threads", threads)):
        if value is not None:
            cfg = replace(cfg, **{name: value})
    mix = SceneMix(scenes=scenes or 160, seed=5)
    if cfg.crop % 16 or not 32 <= cfg.crop <= mix.size:
        raise ConfigError(f"codec-task: --crop must be a multiple of 16 in 32..{mix.size}, got {cfg.crop}")
    out = Path(out)
    bank = SceneBank(build_cache(mix, Path(cache) if cache else out / "cache", progress))
    t0 = time.time()
    codec = train_codec(cfg, out, FemSource(bank, shipped.perception.fem), init=init, fam=fam, resume=resume,
                        progress=progress)
    meta = {"perception": shipped.perception.name, "fem_sha256": shipped.perception.fem_checksum,
            "init": str(init), "fam": "the shipped stage-3 FAM of codec 'sci' (frozen)", "steps": cfg.steps,
            "seconds": round(time.time() - t0, 1), "data": asdict(mix), "config": cfg.to_dict()}
    sha = codec.save(out / "codec.pt", meta)
    return {"out": str(out / "codec.pt"), "sha256": sha, "seconds": meta["seconds"]}


def main(argv: list[str] | None = None) -> int:
    """`python -m spikesci.train.codec_stage --out DIR [...]` (the same as `spikesci train --stage codec`)."""
    import argparse

    p = argparse.ArgumentParser(prog="spikesci-train-codec", description=run_stage.__doc__)
    p.add_argument("--out", required=True)
    for name, kind in (("steps", int), ("batch", int), ("crop", int), ("lr", float), ("threads", int),
                       ("scenes", int)):
        p.add_argument(f"--{name}", type=kind, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None)
    p.add_argument("--fem", default=None, help="FEM weights (default: the shipped perception's FEM)")
    p.add_argument("--init", default=None, help="start from this codec .pt")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    res = run_stage(a.out, a.steps, a.batch, a.crop, a.lr, a.seed, a.threads, a.cache, a.resume, a.fem,
                    a.init, a.scenes, not a.no_progress)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
