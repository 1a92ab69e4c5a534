"""How much does the FEM's output width (values per pixel per map) matter to a trained model? (issue 14)

Training each width from scratch to the shipped model's length costs hours of one core per point, and the
short from-scratch probe (800 steps) was decided by initialisation. This probe starts every width from the
same trained model and fine-tunes each for the same steps, data and schedule:
- 2 values: the trained model itself (the control);
- 1 value: the FEM's last layer projected on the main KLT component of its two channels, the FAM's input
  layers on the same direction (what a one-channel FEM could send at once: the component with ~99 % of the
  energy);
- 4 values: two more FEM outputs (small random weights) read by zero FAM weights, so the model starts
  computing exactly what the trained one does and training decides what the new values carry.

Prints JSON and a table: validation PSNR (held-out simulated samples, the two shared spike-REDS clips when
present) at the start and after fine-tuning, and the FEM's FLOPs per pixel per map.

    python benchmarks/probe_values_per_pixel.py --steps 1000 --out bench_out/vpp [--source MODEL_OR_RUN]

(default source: the model of `reconstruct --method net`; the recorded run used release 3.3)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from spikesci.models.fam_unet import UNetFAMConfig
from spikesci.models.fem_fullres import FullResFEMConfig
from spikesci.train.grow import release_files, release_state
from spikesci.train.recon3 import Recon3Config, load_val_clips, save_release, train

CLIPS = [Path(__file__).resolve().parents[1].parent / "shared/data/spike-reds" / f"203_part{k}_key_id151.dat"
         for k in (2, 3)]


def main_direction(fem_state: dict, fem_cfg: FullResFEMConfig, cfg: Recon3Config, samples: int = 32
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit vector of the FEM channels' main KLT component, their mean), on training samples (never
    validation)."""
    from spikesci.data.synth import make_sample
    from spikesci.models.fem_fullres import FullResFEM

    fem = FullResFEM(fem_cfg)
    fem.load_state_dict(fem_state)
    win = fem_cfg.window
    with torch.no_grad():
        feats = []
        for i in range(samples):
            s = make_sample(cfg.data, 10**7 + i)  # far past any run's samples
            x = torch.from_numpy(s.spikes[None, :win]).float()
            feats.append(fem(x).flatten(2))
        f = torch.cat(feats, 2)[0].double()
    return torch.linalg.eigh(torch.cov(f)).eigenvectors[:, -1].float(), f.mean(1).float()


def variant(fem_state: dict, fam_state: dict, k: int, u: torch.Tensor, mean: torch.Tensor, maps: int
            ) -> tuple[dict, dict]:
    """Weights of the width-k model made from the 2-channel one (see the module docstring). At width 1 the
    FAM sees c = u.f and takes the maps as mean + u (c - u.mean): the part of the mean off u goes into
    its biases."""
    fem, fam = dict(fem_state), dict(fam_state)
    last = max(key for key in fem if key.endswith(".weight"))  # body.N.weight of the last 1x1 conv
    w, b = fem[last], fem[last.replace("weight", "bias")]
    c = w.shape[0]
    if k == 1:
        fem[last] = torch.einsum("c,cihw->ihw", u, w)[None]
        fem[last.replace("weight", "bias")] = (u @ b)[None]
    elif k > c:
        g = torch.Generator().manual_seed(0)
        extra = 0.1 * w.std() * torch.randn((k - c,) + w.shape[1:], generator=g)
        fem[last] = torch.cat([w, extra])
        fem[last.replace("weight", "bias")] = torch.cat([b, torch.zeros(k - c)])
    for key in ("stem.0.weight", "base.weight"):  # the FAM's layers that read the maps (map m, channel j)
        wf = fam[key]
        per = wf.reshape(wf.shape[0], maps, c, *wf.shape[2:])
        if k == 1:
            fam[key] = torch.einsum("omjhw,j->omhw", per, u)
            rest = mean - u * (u @ mean)
            bias = key.replace("weight", "bias")
            fam[bias] = fam[bias] + torch.einsum("omjhw,j->o", per, rest)
        else:
            pad = torch.zeros(wf.shape[0], maps, k - c, *wf.shape[2:])
            fam[key] = torch.cat([per, pad], 2).reshape(wf.shape[0], maps * k, *wf.shape[2:])
    return fem, fam


def fem_kflops(cfg: FullResFEMConfig) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from spikesci.models.fem_fullres import FullResFEM

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        FullResFEM(cfg)(torch.zeros(1, cfg.window, 32, 32))
    return fc.get_total_flops() / 32**2 / 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    from spikesci.models.zoo import RECONSTRUCT_MODEL

    ap.add_argument("--source", default=RECONSTRUCT_MODEL, help="shipped model or run folder (2 channels)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--widths", default="1,2,4")
    ap.add_argument("--extra-photos", default=None)
    ap.add_argument("--out", default="bench_out/vpp")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    fem_path, fam_path = release_files(args.source)
    fem_blob = torch.load(fem_path, map_location="cpu", weights_only=True)
    fam_blob = torch.load(fam_path, map_location="cpu", weights_only=True)
    fem_cfg = FullResFEMConfig.from_dict(fem_blob["config"])
    fam_cfg = UNetFAMConfig.from_dict(fam_blob["config"])
    base = Recon3Config(steps=args.steps, lr=args.lr, warmup=50, val_every=args.steps, ckpt_every=args.steps)
    if args.extra_photos:
        base = replace(base, data=replace(base.data, extra_photos=args.extra_photos))
    u, mean = main_direction(release_state(fem_path), fem_cfg, base)
    clips = load_val_clips([str(p) for p in CLIPS if p.exists()])
    out, rows = Path(args.out), []
    for k in (int(x) for x in args.widths.split(",")):
        fem_s, fam_s = variant(release_state(fem_path), release_state(fam_path), k, u, mean,
                               fam_cfg.maps)
        fcfg, acfg = replace(fem_cfg, channels=k), replace(fam_cfg, channels=k)
        init = out / f"init{k}"
        init.mkdir(parents=True, exist_ok=True)
        save_release(init / "fem.pt", "fem-fullres", fcfg, fem_s)
        save_release(init / "fam.pt", "fam-unet", acfg, fam_s)
        cfg = replace(base, fem=fcfg, fam=acfg, init=str(init))
        start = train(out / f"start{k}", replace(cfg, steps=0), clips=clips, progress=False)
        end = train(out / f"run{k}", cfg, clips=clips, progress=False)
        rows.append({"values_per_pixel": k, "fem_kflops": round(fem_kflops(fcfg), 2),
                     "start": {key: v for key, v in start.items() if "psnr" in key},
                     "after": {key: v for key, v in end.items() if "psnr" in key},
                     "train_seconds": end["train_seconds"]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    result = {"source": args.source, "steps": args.steps, "lr": args.lr, "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    keys = [key for key in rows[0]["after"]]
    heads = " | ".join(f"{key} start -> after" for key in keys)
    print(f"\n| values per pixel per map | FEM kFLOPs/px | {heads} |")
    print("|---|---:|" + "---:|" * len(keys))
    for r in rows:
        cells = [f"{r['start'][key]:.2f} -> {r['after'][key]:.2f}" for key in keys]
        print(f"| {r['values_per_pixel']} | {r['fem_kflops']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
