"""The release-3 FAM fine-tuned on x265-decoded features (stage 3, cloud side, of the x265 feature codec).

Why: the FAM learned on exact FEM maps; x265 at moderate CRFs smooths the small residual KLT component that
carries the last dB or two, and the FAM, never having seen coded maps, mistakes the artefacts for texture.
Here the release-3 FEM stays frozen and every training window goes through the real codec
(`ConventionalFeatureCodec.compress`: KLT, 10-bit planes, x265 and back: bit for bit what a decoder gets) at
a random quality, then the FAM is trained on the decoded maps with the L1 loss against the true luminance.
Data come from the release-3 generator (`data.synth`, endless, a worker process); the schedule, EMA and
checkpoints follow `train.recon3`. A share of windows (`clean`) stays uncoded, so the FAM still serves the
uncoded features.

The result is a weights file keyed to the codec's and the FEM's checksums (`fam.pt`, with `codec_sha256`
and `fem_sha256`), shipped beside the perception weights and used by `decode` for x265 streams.

    spikesci train --stage fam-x265 --out DIR [--steps N] [--resume] [--val-dat CLIP.dat]
"""

from __future__ import annotations

import copy
import csv
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spikesci.data.synth import SynthConfig, SynthStream, make_sample
from spikesci.models.codec.conventional import QUALITY_SETTINGS
from spikesci.train.feed import ReuseBuffer, stream_loader
from spikesci.train.interrupt import catch_stop_signals
from spikesci.train.recon3 import _lr, load_checkpoint, psnr


@dataclass(frozen=True)
class FamX265Config:
    steps: int = 1500
    batch: int = 8
    lr: float = 2e-4
    lr_min: float = 1e-5
    warmup: int = 50
    ema: float = 0.995
    reuse: int = 2
    seed: int = 0
    threads: int = 1
    workers: int = 1
    ckpt_every: int = 100
    val_every: int = 250
    val_samples: int = 12
    clean: float = 0.1  # share of training windows left uncoded
    qualities: tuple[int, ...] = ()  # `.sci` qualities (1..5) to train on; empty: all (a FAM per rate band)
    # maps coded together as one GOP per training window (0: only the FAM's own window, the first recipe).
    # Streams use GOPs of 32 maps, so most maps a decoder sees are inter-coded deep in a GOP; a longer
    # training GOP, with the FAM's window at its middle, shows the FAM those artefacts
    gop: int = 0
    # start from this perception release or run folder (fem.pt, fam.pt) instead of CAAS_MODEL; its FEM must
    # be the CAAS FEM bit for bit (streams are keyed to it), its FAM may read another number of maps (e.g.
    # release 3.4's 3)
    init: str = ""
    loss: str = "l1"  # or "mse": the mean luminance, not the median (what PSNR scores; train/recon3.py)
    data: SynthConfig = field(default_factory=lambda: SynthConfig(frames=81))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FamX265Config:
        return cls(**{**d, "qualities": tuple(d.get("qualities", ())),
                      "data": SynthConfig.from_dict(d.get("data", {}))})


class CodedWindows:
    """Batches of (spikes -> frozen FEM -> x265 codec at a random quality -> decoded maps, target)."""

    def __init__(self, perception, codec, rng: np.random.Generator, clean: float,
                 qualities: tuple[int, ...] = (), gop: int = 0):
        self.per, self.codec, self.rng, self.clean = perception, codec, rng, clean
        self.levels = len(QUALITY_SETTINGS)
        self.train_levels = [q - 1 for q in qualities] or list(range(self.levels))  # indices 0..levels-1
        self.min_gop = gop

    @property
    def gop(self) -> int:
        """Maps coded together: at least the FAM's window, which sits at the GOP's middle."""
        return max(self.min_gop, self.per.maps)

    def frames(self) -> int:
        """Spike frames a sample needs: every GOP map's window, the middle map centred on the middle frame."""
        per = self.per
        return 2 * (per.stride * (self.gop // 2) + max(per.lookback, per.lookahead)) + 1

    @torch.no_grad()
    def maps(self, spikes: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W) spikes -> (B, G, C, H, W) exact FEM maps of the GOP's windows, map G // 2 at the
        middle frame."""
        b, t, h, w = spikes.shape
        per, g = self.per, self.gop
        starts = [t // 2 + per.stride * (k - g // 2) - per.lookback for k in range(g)]
        x = torch.stack([spikes[:, s:s + per.window] for s in starts], 1).reshape(b * g, per.window, h, w)
        return per.fem(x.float().contiguous(memory_format=torch.channels_last)).reshape(b, g, -1, h, w)

    def window(self, maps: torch.Tensor) -> torch.Tensor:
        """The FAM's window (..., M, C, H, W) around the GOP's middle map."""
        lo = self.gop // 2 - self.per.maps // 2
        return maps[..., lo:lo + self.per.maps, :, :, :]

    def code(self, feats: torch.Tensor, quality: int | None) -> torch.Tensor:
        """One GOP (G, C, H, W) through the codec at `quality` (None: uncoded) -> the FAM's window."""
        if quality is None:
            return self.window(feats)
        _, info = self.codec.compress(feats, quality)
        return self.window(info["x_hat"].float())

    def batch(self, spikes: torch.Tensor) -> torch.Tensor:
        feats = self.maps(spikes)
        qs = [None if self.rng.random() < self.clean else int(self.rng.choice(self.train_levels))
              for _ in range(feats.shape[0])]
        return torch.stack([self.code(f, q) for f, q in zip(feats, qs)])


def validate(fam, coder: CodedWindows, val: tuple[torch.Tensor, torch.Tensor], clips: list) -> dict:
    """PSNR per quality (and uncoded) on held-out samples; per clip at the middle quality, GOP 8."""
    out = {}
    x, y = val
    with torch.no_grad():
        feats = torch.cat([coder.maps(x[i:i + 4]) for i in range(0, len(x), 4)])
        for q in [None, *range(coder.levels)]:
            coded = torch.stack([coder.code(f, q) for f in feats])
            out["val_uncoded" if q is None else f"val_q{q + 1}"] = psnr(fam(coded), y)
        per = coder.per
        for name, spikes, gt, frame in clips:
            times = frame + per.stride * (np.arange(8) - 4)
            maps, _ = per.extract(spikes, times)
            _, info = coder.codec.compress(maps, coder.levels // 2)
            win = info["x_hat"].float()[4 - per.maps // 2:4 + per.maps // 2 + 1][None]
            out[f"psnr_{name}_q{coder.levels // 2 + 1}"] = psnr(fam(win), torch.from_numpy(gt)[None, None])
    return out


def _init_perception(source: str, fem_sha256: str):
    """The release or run folder `source`, refused unless its FEM file is the CAAS FEM (same SHA-256)."""
    from spikesci.errors import SpikeSciError
    from spikesci.models.zoo import load_files
    from spikesci.train.grow import release_files

    fem_path, fam_path = release_files(source)
    per = load_files(fem_path, fam_path, name=str(source))
    if per.fem_checksum != fem_sha256:
        raise SpikeSciError(f"--init {source}: its FEM is not the CAAS model's FEM (sha256 "
                            f"{per.fem_checksum[:12]} vs {fem_sha256[:12]}); the x265 FAM must read that FEM")
    return per


def train(out: str | Path, cfg: FamX265Config = FamX265Config(), resume: bool = False,
          clips: list | None = None, progress: bool = True, minutes: float | None = None) -> dict:
    """Fine-tune the shipped release-3 FAM for the x265 codec into OUT (fam.pt = EMA weights, keyed)."""
    from tqdm import tqdm

    from spikesci.models.codec.conventional import ConventionalFeatureCodec
    from spikesci.models.zoo import load_reconstruction
    from spikesci.train.recon3 import save_release

    per = load_reconstruction(caas=True)
    if cfg.init:  # before OUT exists: a bad --init leaves nothing behind
        per = _init_perception(cfg.init, per.fem_checksum)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    codec = ConventionalFeatureCodec(per.channels)
    codec.require()
    fam = copy.deepcopy(per.fam).train()
    for p in fam.parameters():
        p.requires_grad_(True)
    ema = copy.deepcopy(per.fam).eval()
    opt = torch.optim.Adam(fam.parameters(), lr=cfg.lr)
    step, consumed, elapsed = 0, 0, 0.0
    ckpt = out / "ckpt.pt"
    if resume and ckpt.exists():
        blob = load_checkpoint(ckpt, {"fam": fam, "ema": ema, "opt": opt}, "fam-x265")
        step, consumed, elapsed = blob["step"], blob["consumed"], blob["elapsed"]
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    coder = CodedWindows(per, codec, np.random.default_rng([cfg.seed, step]), cfg.clean, cfg.qualities,
                         cfg.gop)
    data = replace(cfg.data, frames=coder.frames())
    loader = stream_loader(SynthStream(data, start=consumed), cfg.workers)
    feed = ReuseBuffer(loader, cfg.batch, cfg.reuse, cfg.seed + step)
    vdata = replace(data, split="validation", size=96)
    samples = [make_sample(vdata, i) for i in range(cfg.val_samples)]
    val = (torch.from_numpy(np.stack([s.spikes for s in samples])),
           torch.from_numpy(np.stack([s.target for s in samples]))[:, None])
    clips = clips or []
    log_path = out / "log.csv"

    def save() -> None:
        blob = {"fam": fam.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                "consumed": consumed + feed.pulled, "elapsed": elapsed, "config": cfg.to_dict()}
        torch.save(blob, ckpt.with_suffix(".part"))
        ckpt.with_suffix(".part").replace(ckpt)
        save_release(out / "fam.pt", "fam-unet", ema.config, ema.state_dict(),
                     {"codec_sha256": codec.sha256, "fem_sha256": per.fem_checksum, "steps": step})

    def log(row: dict) -> None:
        new = not log_path.exists()
        with log_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    before = validate(ema, coder, val, clips) if step == 0 else None
    if before:
        log({"step": 0, **{k: f"{v:.3f}" for k, v in before.items()}})
    start, first = time.time(), step
    bar = tqdm(total=cfg.steps, initial=step, desc="train fam-x265", disable=not progress, dynamic_ncols=True)
    avg = None
    restore_signals = catch_stop_signals()  # Ctrl-C or kill: stop at this step, save, report
    try:
        while step < cfg.steps:
            if minutes is not None and time.time() - start > 60 * minutes:
                break
            t0 = time.time()
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step)
            spikes, target = feed.next_batch()
            maps = coder.batch(spikes)
            loss = (F.mse_loss if cfg.loss == "mse" else F.l1_loss)(fam(maps.contiguous()), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), fam.parameters()):
                    pe.lerp_(p, 1 - min(cfg.ema, (1 + step) / (10 + step)))
            step += 1
            elapsed += time.time() - t0
            avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{avg:.4f}")
            if step % cfg.val_every == 0 or step == cfg.steps:
                row = validate(ema, coder, val, clips)
                log({"step": step, **{k: f"{v:.3f}" for k, v in row.items()}})
            if step % cfg.ckpt_every == 0:
                save()
    except KeyboardInterrupt:
        pass
    finally:
        restore_signals()
        bar.close()
    save()
    final = validate(ema, coder, val, clips)
    summary = {"steps": step, "steps_this_run": step - first, "train_seconds": round(elapsed, 1),
               "before": before, **{k: round(v, 3) for k, v in final.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def run_cli(args) -> dict:
    """`spikesci train --stage fam-x265`."""
    from spikesci.train.recon3 import cli_overrides, load_val_clips

    cfg = FamX265Config(seed=args.seed)
    if args.resume and (Path(args.out) / "config.json").exists():
        cfg = FamX265Config.from_dict(json.loads((Path(args.out) / "config.json").read_text()))
    if getattr(args, "qualities", None):
        cfg = replace(cfg, qualities=tuple(args.qualities))
    if getattr(args, "gop", None) is not None:
        from spikesci.errors import SpikeSciError
        from spikesci.models.codec.conventional import MAX_GOP

        if not 1 <= args.gop <= MAX_GOP:
            raise SpikeSciError(f"--gop must be 1..{MAX_GOP} maps, got {args.gop}")
        cfg = replace(cfg, gop=args.gop)
    if getattr(args, "init", None) and not args.resume:
        cfg = replace(cfg, init=str(args.init))
    return train(args.out, cli_overrides(cfg, args), resume=args.resume, clips=load_val_clips(args.val_dat),
                 progress=not args.no_progress, minutes=args.minutes)
