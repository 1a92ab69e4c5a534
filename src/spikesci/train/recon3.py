"""Perception release 3: the full-resolution FEM and the U-Net FAM trained end to end, for hours.

Why a recipe of its own: the release-1/2 stages train for minutes on a cached scene bank. This one is
built to run for hours on one CPU core (or ten minutes on a GPU) and to continue across sessions:
- data generated on the fly in a worker process (`data.synth`), never the same sample twice; each sample
  is used twice under different flips/rotations (a spike camera is symmetric in space) through a shuffle
  buffer, which halves the simulator's share of the CPU;
- Adam with a linear warm-up and a cosine decay over `steps`, L1 loss (or MSE, `loss`), an exponential
  moving average (EMA) of the weights (the EMA is what ships);
- a checkpoint (models, EMA, optimizer, step, samples consumed, elapsed time) every `ckpt_every` steps and
  on Ctrl-C, `resume=True` continues exactly there; `steps` may be raised on resume to train longer;
- `minutes` stops at a wall-clock budget (the prepared GPU command uses it);
- progress with an ETA, a CSV log, validation on held-out simulated samples and, where given, real clips.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikesci.data.synth import SynthConfig, SynthStream, make_sample
from spikesci.models.basenet import BaseNet
from spikesci.models.extract import laplacian_loss
from spikesci.models.fam_unet import UNetFAM, UNetFAMConfig
from spikesci.models.fem_fullres import FullResFEM, FullResFEMConfig
from spikesci.train.feed import ReuseBuffer, stream_loader
from spikesci.train.interrupt import catch_stop_signals


@dataclass(frozen=True)
class Recon3Config:
    steps: int = 12000
    batch: int = 8
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup: int = 200
    ema: float = 0.999
    reuse: int = 2  # training uses of each generated sample (different flips/rotations)
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    workers: int = 1  # data worker processes
    ckpt_every: int = 200
    val_every: int = 500
    val_samples: int = 24
    model: str = "split"  # "split" (FEM + FAM, release 3) or "basenet" (the unsplit reference)
    init: str = ""  # start from this run folder or shipped model (train.grow: the FAM may have more blocks)
    # weight of the Laplacian constraint on the FEM's maps (paper Sec. V-B, models.extract.laplacian_loss):
    # smoother maps are cheaper for the feature codec; 0 = off (releases 3-3.4 were trained without it)
    lap_weight: float = 0.0
    # train the FAM only: the FEM (end side) keeps its --init weights bit for bit, so streams, feature codecs
    # and classification heads keyed to its checksum stay valid while the cloud side improves
    freeze_fem: bool = False
    # "l1" (releases 3-3.7) or "mse" (release 3.8 on). L1 fits the median of the luminance a window's spikes
    # allow, MSE the mean, which is what PSNR scores: 4,000 MSE steps gave +0.09 dB on spike-REDS
    loss: str = "l1"
    fem: FullResFEMConfig = field(default_factory=FullResFEMConfig)
    fam: UNetFAMConfig = field(default_factory=UNetFAMConfig)
    data: SynthConfig = field(default_factory=SynthConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fem"], d["fam"] = self.fem.to_dict(), self.fam.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Recon3Config:
        d = dict(d)
        d["fem"] = FullResFEMConfig.from_dict(d["fem"])
        d["fam"] = UNetFAMConfig.from_dict(d["fam"])
        d["data"] = SynthConfig.from_dict(d["data"])
        return cls(**d)


class Recon3Net(nn.Module):
    """FEM on each of the `maps` windows of a clip, then the FAM: (B, frames, H, W) -> (B, 1, H, W)."""

    def __init__(self, fem: FullResFEM, fam: UNetFAM):
        super().__init__()
        self.fem, self.fam = fem, fam

    def window_starts(self, frames: int) -> list[int]:
        f, n = self.fem.config, self.fam.config.maps
        centre = frames // 2
        return [centre + f.stride * (k - n // 2) - f.lookback for k in range(n)]

    @property
    def frames(self) -> int:
        return frames_needed(self.fem.config, self.fam.config)

    def forward(self, spikes: torch.Tensor, with_features: bool = False):
        """Image (B, 1, H, W); with `with_features` also the FEM's maps (B, maps, C, H, W)."""
        b, t, h, w = spikes.shape
        win = self.fem.config.window
        starts = self.window_starts(t)
        x = torch.stack([spikes[:, s:s + win] for s in starts], 1).reshape(b * len(starts), win, h, w)
        feats = self.fem(x).view(b, len(starts), -1, h, w)
        return (self.fam(feats), feats) if with_features else self.fam(feats)


def frames_needed(fem: FullResFEMConfig, fam: UNetFAMConfig) -> int:
    return 2 * (fem.stride * (fam.maps // 2) + max(fem.lookback, fem.lookahead)) + 1


def _lr(cfg: Recon3Config, step: int) -> float:
    warm = min(1.0, (step + 1) / max(cfg.warmup, 1))
    cos = 0.5 * (1 + math.cos(math.pi * min(step / max(cfg.steps, 1), 1.0)))
    return warm * (cfg.lr_min + (cfg.lr - cfg.lr_min) * cos)


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = F.mse_loss(x.clamp(0, 1), y).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def validation_set(cfg: Recon3Config) -> tuple[torch.Tensor, torch.Tensor]:
    data = replace(cfg.data, split="validation", size=96)
    samples = [make_sample(data, i) for i in range(cfg.val_samples)]
    return (torch.from_numpy(np.stack([s.spikes for s in samples])),
            torch.from_numpy(np.stack([s.target for s in samples]))[:, None])


def evaluate(net: nn.Module, val: tuple[torch.Tensor, torch.Tensor], clips: list) -> dict:
    """Mean PSNR on the validation samples and, per clip, on (name, spikes (T,H,W), gt, frame) clips."""
    out = {}
    with torch.no_grad():
        x, y = val
        out["val_psnr"] = float(np.mean([psnr(net(x[i:i + 4].float()), y[i:i + 4])
                                         for i in range(0, len(x), 4)]))
        half = net.frames // 2
        for name, spikes, gt, frame in clips:
            window = torch.from_numpy(np.asarray(spikes[frame - half:frame + half + 1]))[None]
            out[f"psnr_{name}"] = psnr(net(window.float()), torch.from_numpy(gt)[None, None])
    return out


def save_release(path: Path, kind: str, config, state: dict, extra: dict | None = None) -> None:
    """Weights as the zoo loads them: {"kind", "config", "state"} in float32."""
    state = {k: v.detach().float().cpu().clone() for k, v in state.items()}
    torch.save({"kind": kind, "config": config.to_dict(), "state": state, **(extra or {})}, path)


def load_checkpoint(path: Path, modules: dict, what: str, device="cpu") -> dict:
    """A run's checkpoint with `modules` (blob key -> module or optimizer) restored from it; a damaged or
    foreign file is one SpikeSciError naming it, not an unpickling traceback."""
    try:
        blob = torch.load(path, map_location=device, weights_only=False)
        for key, module in modules.items():
            module.load_state_dict(blob[key])
    except Exception as exc:  # noqa: BLE001 - say which file, not how unpickling failed
        from spikesci.errors import SpikeSciError

        raise SpikeSciError(f"{path}: not a readable {what} checkpoint ({type(exc).__name__})") from exc
    return blob


def cli_overrides(cfg, args):
    """A recipe config with the `train` command's --steps / --batch / --lr / --threads / --lap-weight /
    --loss / --data-mix / --crop / --extra-photos / --extra-videos."""
    from spikesci.errors import SpikeSciError

    if getattr(args, "crop", None) is not None:  # the training crop side (the generator's scene size)
        if args.crop < 16 or args.crop % 8:
            raise SpikeSciError(f"--crop must be a multiple of 8, at least 16 (the U-Net halves it twice), "
                                f"got {args.crop}")
        cfg = replace(cfg, data=replace(cfg.data, size=args.crop))

    for name in ("steps", "batch", "lr", "threads", "lap_weight", "loss"):
        if getattr(args, name, None) is not None:
            if name not in cfg.__dataclass_fields__:
                raise SpikeSciError(f"--{name.replace('_', '-')} does not apply to this stage")
            cfg = replace(cfg, **{name: getattr(args, name)})
    if getattr(args, "data_mix", None):
        from spikesci.data.synth import with_mix

        cfg = replace(cfg, data=with_mix(cfg.data, args.data_mix))
    if args.extra_photos:
        if not Path(args.extra_photos).is_dir():
            raise SpikeSciError(f"{args.extra_photos}: --extra-photos must be a folder (make training-data)")
        cfg = replace(cfg, data=replace(cfg.data, extra_photos=str(args.extra_photos)))
    if getattr(args, "extra_videos", None):
        from spikesci.data.videos import folder_videos

        if not Path(args.extra_videos).is_dir() or not folder_videos(str(args.extra_videos)):
            raise SpikeSciError(f"{args.extra_videos}: --extra-videos must be a folder holding videos "
                                "(make training-data)")
        from spikesci.data.videos import load_video

        for name in folder_videos(str(args.extra_videos)):  # a bad file now, not hours into the run
            load_video(name, limit=2)
        cfg = replace(cfg, data=replace(cfg.data, extra_videos=str(args.extra_videos)))
    return cfg


def train(out: str | Path, cfg: Recon3Config, resume: bool = False, minutes: float | None = None,
          clips: list | None = None, progress: bool = True) -> dict:
    """Train (or continue) a release-3 perception model into OUT; returns the summary written to
    OUT/summary.json. OUT/fem.pt and OUT/fam.pt hold the EMA weights."""
    from tqdm import tqdm

    out = Path(out)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    dev = torch.device(cfg.device)
    if cfg.model not in ("split", "basenet"):
        raise ValueError(f"model must be split or basenet, got {cfg.model!r}")
    if cfg.lap_weight and cfg.model != "split":
        raise ValueError("the Laplacian constraint applies to the split model's FEM maps only")
    net = (Recon3Net(FullResFEM(cfg.fem), UNetFAM(cfg.fam)) if cfg.model == "split" else BaseNet()).to(dev)
    ckpt = out / "ckpt.pt"
    if cfg.init and cfg.model == "split" and not (resume and ckpt.exists()):
        from spikesci.train.grow import grow_into

        grow_into(net.fem, net.fam, cfg.init)  # before OUT exists: a bad --init leaves nothing behind
    out.mkdir(parents=True, exist_ok=True)
    net = net.to(memory_format=torch.channels_last)  # full-resolution convolutions: faster channels-last
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    if cfg.freeze_fem:
        net.fem.requires_grad_(False)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg.lr)
    step, consumed, elapsed = 0, 0, 0.0
    if resume and ckpt.exists():
        blob = load_checkpoint(ckpt, {"net": net}, "perception3", dev)
        ema.load_state_dict(blob["ema"])
        if "opt" in blob:
            opt.load_state_dict(blob["opt"])
        step, consumed, elapsed = blob["step"], blob["consumed"], blob["elapsed"]
        saved = Recon3Config.from_dict(blob["config"])
        if (saved.fem, saved.fam, saved.model) != (cfg.fem, cfg.fam, cfg.model):
            raise ValueError("the checkpoint was trained with another model shape")
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    stream = SynthStream(cfg.data, start=consumed)
    loader = stream_loader(stream, cfg.workers)
    feed = ReuseBuffer(loader, cfg.batch, cfg.reuse, cfg.seed + step)
    val = validation_set(cfg)
    clips = clips or []
    log_path = out / "log.csv"
    fields = ["step", "lr", "loss", "train_psnr", "seconds", "val_psnr"] + [f"psnr_{c[0]}" for c in clips]
    if not log_path.exists():
        with log_path.open("w", newline="") as f:
            csv.writer(f).writerow(fields)

    def save() -> None:
        blob = {"net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                "consumed": consumed + feed.pulled, "elapsed": elapsed,
                "config": cfg.to_dict()}
        tmp = ckpt.with_suffix(".part")
        torch.save(blob, tmp)
        tmp.replace(ckpt)
        if cfg.model == "basenet":
            save_release(out / "basenet.pt", "basenet", ema.config, ema.state_dict())
        else:
            save_release(out / "fem.pt", "fem-fullres", cfg.fem, ema.fem.state_dict())
            save_release(out / "fam.pt", "fam-unet", cfg.fam, ema.fam.state_dict())

    start_time, first = time.time(), step
    bar = tqdm(total=cfg.steps, initial=step, desc="train perception3", disable=not progress,
               dynamic_ncols=True)
    avg_loss, avg_psnr = None, None
    fit = F.mse_loss if cfg.loss == "mse" else F.l1_loss
    restore_signals = catch_stop_signals()  # Ctrl-C or kill: stop at this step, save, report
    try:
        while step < cfg.steps:
            if minutes is not None and time.time() - start_time > 60 * minutes:
                break
            t0 = time.time()
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step)
            spikes, target = feed.next_batch()
            spikes, target = spikes.to(dev, non_blocking=True), target.to(dev, non_blocking=True)
            if cfg.lap_weight:
                pred, feats = net(spikes.float(), with_features=True)
                loss = fit(pred, target) + cfg.lap_weight * laplacian_loss(feats.flatten(0, 1))
            else:
                pred = net(spikes.float())
                loss = fit(pred, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                decay = min(cfg.ema, (1 + step) / (10 + step))
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(p, 1 - decay)
            step += 1
            elapsed += time.time() - t0
            lv, pv = loss.item(), psnr(pred.detach(), target)
            avg_loss = lv if avg_loss is None else 0.98 * avg_loss + 0.02 * lv
            avg_psnr = pv if avg_psnr is None else 0.98 * avg_psnr + 0.02 * pv
            bar.update(1)
            row = None
            if step % cfg.val_every == 0 or step == cfg.steps:
                row = evaluate(ema, val, clips)
                bar.set_postfix(loss=f"{avg_loss:.4f}", val=f"{row['val_psnr']:.2f}")
            elif step % 20 == 0:
                bar.set_postfix(loss=f"{avg_loss:.4f}", psnr=f"{avg_psnr:.2f}")
            if step % 20 == 0 or row:
                with log_path.open("a", newline="") as f:
                    csv.DictWriter(f, fieldnames=fields, restval="").writerow(
                        {"step": step, "lr": f"{_lr(cfg, step):.3g}", "loss": f"{avg_loss:.5f}",
                         "train_psnr": f"{avg_psnr:.3f}", "seconds": f"{elapsed:.0f}",
                         **({k: f"{v:.3f}" for k, v in row.items()} if row else {})})
            if step % cfg.ckpt_every == 0:
                save()
    except KeyboardInterrupt:
        pass
    finally:
        restore_signals()
        bar.close()
    save()
    final = evaluate(ema, val, clips)
    summary = {"steps": step, "steps_this_run": step - first, "samples": consumed + feed.pulled,
               "train_seconds": round(elapsed, 1), **{k: round(v, 3) for k, v in final.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def load_val_clips(paths: list[str] | None) -> list:
    """(name, spikes, ground truth, frame) per CLIP.dat with CLIP.png (the picture at its middle frame)."""
    from spikesci.errors import SpikeSciError
    from spikesci.io.dat import read_dat
    from spikesci.simulate.images import read_grey

    clips = []
    for p in paths or []:
        dat, png = Path(p), Path(p).with_suffix(".png")
        if not dat.exists() or not png.exists():
            raise SpikeSciError(f"{dat}: --val-dat needs the clip and its ground truth {png.name}")
        gt = read_grey(png).astype(np.float32)
        spikes = np.asarray(read_dat(dat, gt.shape[0], gt.shape[1]))
        need = frames_needed(FullResFEMConfig(), UNetFAMConfig())
        if len(spikes) < need:
            raise SpikeSciError(f"{dat}: --val-dat needs at least {need} frames, found {len(spikes)}")
        clips.append((dat.stem, spikes, gt, len(spikes) // 2))
    return clips


def run_cli(args) -> dict:
    """`spikesci train --stage perception3|reference`: the recipe with the command's options."""
    from spikesci.errors import SpikeSciError

    cfg = Recon3Config(model="split" if args.stage == "perception3" else "basenet", seed=args.seed,
                       device=args.device)
    out = Path(args.out)
    if args.resume and (out / "config.json").exists():
        cfg = Recon3Config.from_dict(json.loads((out / "config.json").read_text()))
    elif args.resume and (out / "ckpt.pt").exists():  # a committed compact checkpoint copied into OUT
        cfg = Recon3Config.from_dict(load_checkpoint(out / "ckpt.pt", {}, "perception3")["config"])
    cfg = cli_overrides(cfg, args)
    if cfg.lap_weight and cfg.model != "split":
        raise SpikeSciError("--lap-weight applies to --stage perception3 (the FEM's maps), not to the "
                            "reference")
    if getattr(args, "fam_blocks", None):
        cfg = replace(cfg, fam=replace(cfg.fam, blocks=args.fam_blocks))
    if getattr(args, "fam_maps", None):
        if args.fam_maps < 1 or args.fam_maps % 2 == 0 or args.fam_maps > 9:
            raise SpikeSciError(f"--fam-maps must be odd, 1..9 (the centre map is the picture's), "
                                f"got {args.fam_maps}")
        cfg = replace(cfg, fam=replace(cfg.fam, maps=args.fam_maps))
        frames = max(cfg.data.frames, frames_needed(cfg.fem, cfg.fam))  # spikes for every map's window
        cfg = replace(cfg, data=replace(cfg.data, frames=frames))
    if getattr(args, "freeze_fem", False):
        cfg = replace(cfg, freeze_fem=True)
    if cfg.freeze_fem and cfg.lap_weight:
        raise SpikeSciError("--lap-weight shapes the FEM's maps: it cannot be used with --freeze-fem")
    if getattr(args, "init", None) and args.stage == "perception3":
        cfg = replace(cfg, init=str(args.init))
    if cfg.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SpikeSciError("--device cuda asked for, but this torch has no CUDA device")
        import os

        # a GPU eats simulated samples far faster than one worker makes them: use the machine's cores
        cfg = replace(cfg, workers=max(cfg.workers, min(12, (os.cpu_count() or 2) - 2)))
    return train(args.out, cfg, resume=args.resume, minutes=args.minutes, clips=load_val_clips(args.val_dat),
                 progress=not args.no_progress)


def compact_checkpoint(src: str | Path, dest: str | Path, ema_only: bool = False) -> dict:
    """A small copy of a run's checkpoint to keep in the repository: weights and EMA (float32), step,
    samples consumed and time, without the optimizer state (Adam rebuilds its moments within a few hundred
    steps; at the low learning rate of a continued run that costs nothing measurable). Continue with
    `cp DEST OUT/ckpt.pt && spikesci train --stage perception3 --resume --out OUT --steps N`.
    `ema_only`: the training weights restart from the EMA (stored once: half the size, under the
    repository's 5 MiB per file), which a run mid-cycle recovers from as from the optimizer state."""
    blob = torch.load(src, map_location="cpu", weights_only=False)
    small = {k: blob[k] for k in ("net", "ema", "step", "consumed", "elapsed", "config")}
    if ema_only:
        small["net"] = small["ema"]  # the same tensors: torch.save writes each storage once
    torch.save(small, dest)
    return {k: small[k] for k in ("step", "consumed", "elapsed")}
