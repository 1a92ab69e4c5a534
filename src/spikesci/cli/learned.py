"""Learned commands: `spikesci train` (perception, issue 4). The codec's `encode` / `decode` go in
`register_codec` below (issue 5), so each part keeps its own function."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

from spikesci.errors import SpikeSciError

STAGES = ("fem", "fam", "all", "codec", "codec-fam", "codec-task", "perception3", "reference", "fam-x265",
          "codec3")


def register(commands, bench) -> None:
    register_train(commands)
    register_codec(commands, bench)


def register_train(commands) -> None:
    from spikesci.train.config import ABLATIONS

    p = commands.add_parser("train", help="train the learned models (stage fem, fam, all, codec, codec-fam, "
                            "codec-task, perception3, reference, fam-x265, codec3)",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--stage", choices=STAGES, default="all")
    p.add_argument("--out", required=True, help="output folder (weights, checkpoints, config.json, logs)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="steps of the chosen stage (both stages for all)")
    p.add_argument("--fem-steps", type=int, default=None)
    p.add_argument("--fam-steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--crop", type=int, default=None,
                   help="training crop side in pixels (stages fem, fam, all, codec, codec-task, codec-fam; "
                   "perception3 / reference / fam-x265: the generated scene size, default 64)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--lap-weight", type=float, default=None,
                   help="Laplacian constraint weight on the FEM maps (0 = off): stages fem, all, "
                   "perception3")
    p.add_argument("--scenes", type=int, default=None, help="training scenes to simulate (cached)")
    p.add_argument("--samples", type=int, default=None,
                   help="--stage codec-fam: training windows coded at every quality (default 1280)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    p.add_argument("--fam-preset", choices=("base", "lite"), default=None, help="FAM size (default base)")
    p.add_argument("--ablation", choices=ABLATIONS, default=None)
    p.add_argument("--config", default=None, help="start from a saved config.json")
    p.add_argument("--fem", default=None, help="trained FEM weights for --stage fam (default OUT/fem.pt)")
    p.add_argument("--cache", default=None, help="scene cache folder (default OUT/cache)")
    p.add_argument("--init", default=None, help="--stage codec-task: codec .pt to start from; --stage "
                   "perception3: a run folder (fem.pt, fam.pt) or shipped model to start from (with "
                   "--fam-blocks, the FAM's added blocks start as identities); --stage fam-x265: a release"
                   " or run folder whose FEM is the CAAS model's (its FAM is tuned, not CAAS_MODEL's)")
    p.add_argument("--fam-blocks", type=_blocks, default=None, metavar="A,B,C",
                   help="--stage perception3: residual blocks of the U-Net FAM per scale (default 1,1,2)")
    p.add_argument("--fam-maps", type=int, default=None, metavar="N",
                   help="--stage perception3: feature maps the FAM reads per picture (odd, default 3); with "
                   "--init, the inputs of the added outer maps start at zero")
    p.add_argument("--freeze-fem", action="store_true",
                   help="--stage perception3: train the FAM only; the FEM (the end side, and what coded "
                   "streams, codecs and heads are keyed to) keeps the --init weights exactly")
    p.add_argument("--task-weight", type=float, default=0.01,
                   help="--stage codec-task, codec3: weight of the reconstruction MSE (frozen FAM)")
    p.add_argument("--feature-weight", type=float, default=0.1,
                   help="--stage codec-task, codec3: weight of the feature MSE")
    p.add_argument("--minutes", type=float, default=None,
                   help="--stage perception3/reference/fam-x265: stop after this many minutes of wall time")
    p.add_argument("--val-dat", action="append", default=None, metavar="CLIP.dat",
                   help="--stage perception3/reference/fam-x265: also validate on CLIP.dat (ground truth "
                   "CLIP.png at its middle frame, as the spike-REDS clips); repeatable; never trained on")
    p.add_argument("--extra-photos", default=None,
                   help="--stage perception3/reference/fam-x265: folder of extra training photos "
                   "(make training-data)")
    p.add_argument("--extra-videos", default=None,
                   help="--stage perception3/reference/fam-x265: folder of real training videos (make "
                   "training-data): 15%% of scenes then move as these videos do, slowed to the spike rate")
    p.add_argument("--loss", choices=("l1", "mse"), default=None,
                   help="--stage perception3/reference/fam-x265: training loss (default l1; mse fits the "
                   "mean luminance, what PSNR scores); on --resume it replaces the run's")
    p.add_argument("--data-mix", choices=("default", "spike-reds", "spike-reds-ideal"), default=None,
                   help="--stage perception3/reference/fam-x265: the simulated motion and background mix "
                   "(spike-reds: 80%% of samples at 0.02-0.3 px per spike frame, more real photos and "
                   "videos; spike-reds-ideal: half of them from an ideal camera); on --resume it replaces "
                   "the run's mix from then on")
    p.add_argument("--gop", type=int, default=None, metavar="N",
                   help="--stage fam-x265: code N maps together as one GOP per training window, the FAM's "
                   "window at its middle (default: the FAM's own maps; streams use 32)")
    p.add_argument("--qualities", type=_qualities, default=None, metavar="Q,Q",
                   help="--stage fam-x265: train on these .sci qualities only (1..5, e.g. 1,2: a FAM for the "
                   "lowest rates); default all")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt-<stage>.pt")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train)


def _blocks(text: str) -> tuple[int, int, int]:
    try:
        blocks = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three block counts like 2,2,3, got '{text}'") from None
    if len(blocks) != 3 or not all(1 <= b <= 8 for b in blocks):
        raise argparse.ArgumentTypeError(f"expected three block counts in 1..8 like 2,2,3, got '{text}'")
    return blocks


def _qualities(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected qualities like 1,2, got '{text}'") from None
    if not values or values[0] < 1 or values[-1] > 5:
        raise argparse.ArgumentTypeError(f"qualities must lie in 1..5, got '{text}'")
    return values


def build_config(args):
    from spikesci.train.config import TrainConfig

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
    if args.resume and not args.config and (Path(args.out) / "config.json").exists():
        cfg = TrainConfig.load(Path(args.out) / "config.json")
    cfg = replace(cfg, stage=args.stage, device=args.device, seed=args.seed)
    if args.steps is not None:
        if args.stage in ("fem", "all"):
            cfg = replace(cfg, fem_steps=args.steps)
        if args.stage in ("fam", "all"):
            cfg = replace(cfg, fam_steps=args.steps)
    for name in ("fem_steps", "fam_steps", "batch", "crop", "lr", "lap_weight", "threads"):
        value = getattr(args, name)
        if value is not None:
            cfg = replace(cfg, **{name: value})
    if args.fam_preset is not None:
        from spikesci.models.analysis import FAM_PRESETS

        cfg = replace(cfg, fam=FAM_PRESETS[args.fam_preset])
    if args.scenes is not None:
        cfg = replace(cfg, data=replace(cfg.data, scenes=args.scenes))
    cfg = cfg.with_ablation(args.ablation)
    if cfg.crop % 8:
        raise SpikeSciError(f"--crop must be a multiple of 8, got {cfg.crop}")
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SpikeSciError("--device cuda asked for, but this torch has no CUDA device")
    return cfg


def run_train(args) -> int:
    if args.stage not in ("perception3", "reference", "fam-x265"):  # the release-3 recipes read them
        for flag, value in (("--loss", args.loss), ("--data-mix", args.data_mix)):
            if value is not None:
                raise SpikeSciError(f"{flag} applies to --stage perception3, reference or fam-x265, "
                                    f"not {args.stage}")
    if args.stage == "codec3" and args.crop is not None:  # its recipe trains on 64x64 crops, fixed
        raise SpikeSciError("--crop does not apply to --stage codec3 (64x64 crops, fixed)")
    if args.stage in ("perception3", "reference"):  # release 3: full-resolution FEM + U-Net FAM, or BaseNet
        from spikesci.train.recon3 import run_cli

        print(json.dumps(run_cli(args)))
        return 0
    if args.stage == "fam-x265":  # the release-3 FAM fine-tuned on x265-decoded maps (encode --codec x265)
        from spikesci.train.fam_x265 import run_cli as run_fam_x265

        print(json.dumps(run_fam_x265(args), default=str))
        return 0
    if args.stage == "codec3":  # the learned codec on CAAS_MODEL's full-resolution FEM (folded, warm start)
        from spikesci.train.codec_fold import run_stage as run_codec3

        summary = run_codec3(args.out, args.steps, args.batch, args.lr, args.seed, args.threads, args.resume,
                             args.init, args.task_weight, args.feature_weight, args.extra_photos,
                             args.extra_videos, not args.no_progress)
        print(json.dumps(summary, default=str))
        return 0
    if args.stage == "codec":  # stage 3 (paper Fig. 7c): the feature codec on the frozen shipped FEM
        from spikesci.train.codec_stage import run_stage

        summary = run_stage(args.out, args.steps, args.batch, args.crop, args.lr, args.seed, args.threads,
                            args.cache, args.resume, args.fem, None, args.scenes, not args.no_progress)
        print(json.dumps(summary, default=str))
        return 0
    if args.stage == "codec-task":  # stage 3 with the task loss: the codec fine-tuned through the frozen FAM
        from spikesci.train.codec_stage import run_task_stage

        summary = run_task_stage(args.out, args.steps, args.batch, args.crop, args.lr,
                                 args.seed, args.threads, args.cache, args.resume,
                                 args.init, args.task_weight, args.feature_weight, args.scenes,
                                 not args.no_progress)
        print(json.dumps(summary, default=str))
        return 0
    if args.stage == "codec-fam":  # stage 3, cloud side: the FAM fine-tuned on the codec's decoded maps
        from spikesci.train.fam_coded import FamCodedConfig, run

        cfg = FamCodedConfig(seed=args.seed)
        for name in ("steps", "crop", "lr", "threads", "scenes"):
            if getattr(args, name) is not None:
                cfg = replace(cfg, **{name: getattr(args, name)})
        if args.batch is not None:
            cfg = replace(cfg, batch=args.batch)
        if args.samples is not None:
            val = max(2, min(cfg.val_samples, args.samples // 8))
            cfg = replace(cfg, samples=args.samples, val_samples=val,
                          eval_every=max(1, min(cfg.eval_every, cfg.steps)))
        summary = run(args.out, cfg, cache=args.cache, progress=not args.no_progress)
        print(json.dumps(summary, default=str))
        return 0
    from spikesci.train.loop import train

    cfg = build_config(args)
    summary = train(cfg, args.out, resume=args.resume, fem_path=args.fem, cache=args.cache,
                    progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun every rank gets here; one summary line
        print(json.dumps(summary))
    return 0


def register_codec(commands, bench) -> None:
    """Issue 5 (the feature codec) adds `encode` and `decode` here."""
