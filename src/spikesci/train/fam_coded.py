"""Stage 3, cloud side (paper Fig. 7c): fine-tune the FAM on what the cloud really receives.

The FAM of stage 2 learned from uncompressed FEM maps and its own flow estimator. After coding, the cloud sees
decoded maps (quantised, smoothed at low rates) and the codec's FMVR-refined motion vectors. This stage runs
the frozen FEM and the frozen codec's real `compress()` (the exact integer paths, so what is trained on is
bit for bit what a decoder produces) at every quality on simulated training scenes, then fine-tunes the FAM
with the task loss (reconstruction MSE against the ground-truth luminance).

The result is written as its own weights file keyed to the codec's checksum (`codec_manifest.json`:
`fam_file`, `fam_sha256`), not into the codec file: the codec's bytes, checksum, every `.sci` stream made
with it and every classification head trained on its decoded maps stay valid. `spikesci.sci.load_model`
uses it for decoded streams.

    python -m spikesci.train.fam_coded --out DIR [--steps N] [--samples N]
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm


@dataclass(frozen=True)
class FamCodedConfig:
    samples: int = 1280  # training windows; each is coded at every quality
    val_samples: int = 96  # windows from scenes never drawn for training
    val_scenes: int = 16  # the last scenes of the bank are kept for validation
    crop: int = 64  # image pixels (features are crop / 2)
    steps: int = 6000
    batch: int = 8
    lr: float = 3e-4
    eval_every: int = 500
    scenes: int = 160  # SceneMix size (the codec's training scenes, seed 5)
    seed: int = 0
    threads: int = 1


@torch.no_grad()
def decoded_windows(bank, perception, codec, count: int, crop: int, rng: np.random.Generator,
                    scenes: np.ndarray, progress: bool = True) -> dict[str, torch.Tensor]:
    """`count` FAM windows coded at every quality: dict(feats (K, M, C, h, w), flows (K, M-1, 2, h, w),
    truth (K, crop, crop), quality (K,)), K = count * qualities.

    Each sample codes M + 1 maps as one group of pictures and keeps a window of M at a random offset, so the
    intra map is not always first in the window (as in a real stream, whose GOPs do not align with windows).
    """
    m, stride, q_count = perception.maps, perception.stride, codec.levels
    feats, flows, truth, quality = [], [], [], []
    bar = tqdm(total=count, desc="code windows", unit="win", disable=not progress, leave=False)
    for _ in range(count):
        offset = int(rng.integers(2))
        times = stride * (np.arange(m + 1) - m // 2 - offset)
        x, y = bank.sample(rng, 1, crop, times, perception.window, perception.lookback,
                           scenes=rng.choice(scenes, 1))
        f = perception.fem(torch.from_numpy(np.ascontiguousarray(x[0])).float())
        for q in range(q_count):
            _, res = codec.compress(f, q)
            feats.append(res["x_hat"][offset:offset + m].float())
            flows.append(res["flows"][offset:offset + m - 1].float())
            truth.append(torch.from_numpy(np.ascontiguousarray(y[0])))
            quality.append(q)
        bar.update(1)
    bar.close()
    return {"feats": torch.stack(feats), "flows": torch.stack(flows), "truth": torch.stack(truth),
            "quality": torch.tensor(quality)}


@torch.no_grad()
def psnr_by_quality(fam, data: dict, batch: int = 16) -> list[float]:
    """Mean PSNR (dB, clamped to [0, 1]) of the FAM's reconstructions per quality index."""
    fam.eval()
    err = torch.empty(len(data["truth"]))
    for a in range(0, len(err), batch):
        pred = fam(data["feats"][a:a + batch], data["flows"][a:a + batch])[:, 0].clamp(0, 1)
        err[a:a + batch] = ((pred - data["truth"][a:a + batch]) ** 2).mean((-2, -1))
    psnr = 10 * torch.log10(1 / err.clamp_min(1e-10))
    return [round(float(psnr[data["quality"] == q].mean()), 3) for q in range(int(data["quality"].max()) + 1)]


def finetune_fam(fam, train: dict, val: dict, cfg: FamCodedConfig, progress: bool = True,
                 log: Path | None = None) -> tuple[torch.nn.Module, dict]:
    """Adam with cosine decay on the reconstruction MSE; keeps the state with the best mean validation
    PSNR (the stage-2 FAM included, so this can only help on the validation windows)."""
    fam = copy.deepcopy(fam)
    for p in fam.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(fam.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    before = psnr_by_quality(fam, val)
    best, best_state, history = float(np.mean(before)), copy.deepcopy(fam.state_dict()), []
    history.append({"step": 0, "val_psnr": before})
    losses: list[float] = []
    bar = tqdm(range(1, cfg.steps + 1), desc="fam stage 3", disable=not progress)
    for step in bar:
        fam.train()
        idx = torch.randint(len(train["truth"]), (cfg.batch,), generator=gen)
        pred = fam(train["feats"][idx], train["flows"][idx])[:, 0]
        loss = F.mse_loss(pred, train["truth"][idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(fam.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % cfg.eval_every == 0 or step == cfg.steps:
            val_psnr = psnr_by_quality(fam, val)
            row = {"step": step, "train_psnr": round(10 * math.log10(1 / max(np.mean(losses), 1e-10)), 3),
                   "val_psnr": val_psnr}
            history.append(row)
            losses = []
            if log is not None:
                with open(log, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
            bar.set_postfix(val=f"{np.mean(val_psnr):.2f}")
            if np.mean(val_psnr) > best:
                best, best_state = float(np.mean(val_psnr)), copy.deepcopy(fam.state_dict())
    fam.load_state_dict(best_state)
    fam.eval()
    for p in fam.parameters():
        p.requires_grad_(False)
    return fam, {"val_psnr_before": before, "val_psnr_after": psnr_by_quality(fam, val), "history": history}


def run(out: str | Path, cfg: FamCodedConfig = FamCodedConfig(), model: str | None = None,
        cache: str | Path | None = None, progress: bool = True) -> dict:
    """Shipped (or given) codec + its perception -> OUT/fam-coded.pt and OUT/fam-coded.json (summary)."""
    from spikesci import sci
    from spikesci.data.recon import SceneBank, SceneMix, build_cache
    from spikesci.errors import ConfigError
    from spikesci.train.loop import save_weights

    for name in ("samples", "val_samples", "steps", "batch", "eval_every", "threads"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"codec-fam: {name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.scenes <= cfg.val_scenes:
        raise ConfigError(f"codec-fam: --scenes must exceed the {cfg.val_scenes} validation scenes, "
                          f"got {cfg.scenes}")
    if cfg.crop % 8 or cfg.crop < 16:
        raise ConfigError(f"codec-fam: --crop must be a multiple of 8, at least 16, got {cfg.crop}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    sm = sci.load_model(model)
    mix = SceneMix(scenes=cfg.scenes, seed=5)
    if cfg.crop > mix.size:
        raise ConfigError(f"codec-fam: --crop must be at most the scenes' {mix.size} pixels, got {cfg.crop}")
    bank = SceneBank(build_cache(mix, Path(cache) if cache else out / "cache", progress))
    split = len(bank) - cfg.val_scenes
    rng = np.random.default_rng(cfg.seed)
    val = decoded_windows(bank, sm.perception, sm.codec, cfg.val_samples, cfg.crop, rng,
                          np.arange(split, len(bank)), progress)
    train = decoded_windows(bank, sm.perception, sm.codec, cfg.samples, cfg.crop, rng, np.arange(split),
                            progress)
    coded_s = time.time() - t0
    fam, result = finetune_fam(sm.perception.fam, train, val, cfg, progress, out / "log-fam-coded.jsonl")
    summary = {"codec": sm.name, "codec_sha256": sm.checksum, "perception_sha256": sm.perception.checksum,
               "data": f"{asdict(mix)}: {cfg.samples} training / {cfg.val_samples} validation windows, "
                       f"each coded at every quality", "config": asdict(cfg),
               "coding_seconds": round(coded_s, 1), "seconds": round(time.time() - t0, 1),
               "val_psnr_before": result["val_psnr_before"], "val_psnr_after": result["val_psnr_after"]}
    save_weights(out / "fam-coded.pt", "fam", fam.config, fam.state_dict(),
                 {"codec_sha256": sm.checksum, "stage": 3})
    (out / "fam-coded.json").write_text(json.dumps({**summary, "history": result["history"]}, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m spikesci.train.fam_coded", description=run.__doc__)
    p.add_argument("--out", required=True)
    for name, value in asdict(FamCodedConfig()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--model", default=None, help="codec model (default: the shipped 'sci')")
    p.add_argument("--cache", default=None, help="scene cache folder (default OUT/cache)")
    a = vars(p.parse_args(argv))
    out, model, cache = a.pop("out"), a.pop("model"), a.pop("cache")
    print(json.dumps(run(out, FamCodedConfig(**a), model, cache), indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
