"""The learned feature codec moved onto the full-resolution FEM of CAAS_MODEL (release 3.x), stage 3.

Why this way: the learned codec's transforms were trained (hours, release 2) on 8 channels at half resolution;
the release-3 FEM sends 2 channels at full resolution, the same 2 values per pixel per map. Folding each 2x2
block of pixels into channels (`CodecConfig.fold = 2`) gives the transforms the shape they know, so the codec
starts warm from the release-2 weights instead of from scratch. Training data come from the release-3
generator (`data.synth`, endless, a worker process): spikes -> the frozen CAAS FEM -> GOPs of exact maps,
the picture's luminance at the middle map. The loss is stage 3 with the task term (paper Fig. 7c):
R + lambda_q * (feature_weight * D_feat + task_weight * D_rec), D_rec through release 3.4's FAM (same FEM
file as the CAAS model), frozen, so that FAM decodes the result as it is.

    spikesci train --stage codec3 --out DIR [--steps N] [--init CODEC.pt] [--resume]
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from spikesci.data.synth import SynthConfig, SynthStream

FOLD = 2
# The release whose frozen FAM the shipped learned codec (entry "sci") was trained through: release 3.4's
# 3-map FAM. Its FEM file is CAAS_MODEL's (checked), so the codec codes what every other codec codes; naming
# it here keeps `spikesci train --stage codec3` reproducing the manifest when CAAS_MODEL moves to a newer FAM.
TRAINED_THROUGH = "perception-r3.4"


class SynthFemSource:
    """Batches of (GOP of exact FEM maps (B, G, C, H, W), luminance at the middle map (B, H, W))."""

    pixels_per_feature = 1  # image pixels per feature pixel (train_codec's bits-per-pixel denominator)

    def __init__(self, perception, maps: int, batch: int, data: SynthConfig, seed: int, workers: int = 1,
                 start: int = 0):
        from spikesci.train.fam_x265 import CodedWindows
        from spikesci.train.feed import ReuseBuffer, stream_loader

        self.windows = CodedWindows(perception, None, np.random.default_rng(seed), 0.0, gop=maps)
        stream = SynthStream(replace(data, frames=self.windows.frames()), start=start)
        loader = stream_loader(stream, workers)
        self.feed = ReuseBuffer(loader, batch, 2, seed)

    def sample(self, rng, batch: int, maps: int, crop: int):
        spikes, target = self.feed.next_batch()
        return self.windows.maps(spikes).float(), target[:, 0].float()


def run_stage(out: str | Path, steps: int | None = None, batch: int | None = None, lr: float | None = None,
              seed: int = 0, threads: int | None = None, resume: bool = False, init: str | Path | None = None,
              task_weight: float = 0.01, feature_weight: float = 0.1, extra_photos: str | None = None,
              extra_videos: str | None = None, progress: bool = True, workers: int = 1) -> dict:
    """`spikesci train --stage codec3`: OUT/codec.pt, a folded codec keyed to CAAS_MODEL's FEM."""
    from spikesci.errors import ConfigError
    from spikesci.models.codec import CodecConfig, FeatureCodec
    from spikesci.models.zoo import WEIGHTS_DIR, load_perception, load_reconstruction
    from spikesci.train.codec_stage import CodecTrainConfig, train_codec

    if task_weight < 0 or feature_weight < 0:
        raise ConfigError("codec3: --task-weight and --feature-weight must not be negative")
    for flag, folder in (("--extra-photos", extra_photos), ("--extra-videos", extra_videos)):
        if folder and not Path(folder).is_dir():
            raise ConfigError(f"codec3: {flag} {folder}: not a folder (make training-data)")
    init = Path(init) if init else WEIGHTS_DIR / "codec-sci.pt"  # release 2 (8 channels, half resolution)
    if not init.is_file():
        raise ConfigError(f"codec3: --init {init}: no such codec file")
    base = FeatureCodec.load(init)  # a damaged or foreign file is refused here, before any data is built
    per, caas = load_perception(TRAINED_THROUGH), load_reconstruction(caas=True)
    if per.fem_checksum != caas.fem_checksum:
        raise ConfigError(f"codec3: {TRAINED_THROUGH}'s FEM is not the CAAS model's FEM")
    if base.config.channels != per.channels * FOLD * FOLD:
        raise ConfigError(f"codec3: --init {init} codes {base.config.channels} channels; the FEM's "
                          f"{per.channels} full-resolution channels fold to {per.channels * FOLD * FOLD}")
    fam = per.fam.eval()
    for p in fam.parameters():
        p.requires_grad_(False)
    cfg = CodecTrainConfig(source="fem", steps=steps or 2000, batch=batch or 4, maps=per.maps, crop=64,
                           lr=lr or 3e-4, stride=per.stride, task_weight=task_weight,
                           feature_weight=feature_weight, seed=seed, threads=threads or 1, ckpt_every=50,
                           codec=replace(CodecConfig.from_dict(base.config.to_dict()), fold=FOLD))
    data = SynthConfig(size=64, seed=seed, extra_photos=extra_photos, extra_videos=extra_videos)
    torch.set_num_threads(cfg.threads)
    start = 0
    ckpt = Path(out) / "ckpt-codec.pt"
    if resume and ckpt.exists():  # skip the samples the earlier run saw (about batch / reuse per step)
        start = int(torch.load(ckpt, weights_only=False)["step"]) * cfg.batch // 2
    source = SynthFemSource(per, cfg.maps, cfg.batch, data, seed, workers, start)
    t0 = time.time()
    codec = train_codec(cfg, out, source, init=init, fam=fam, resume=resume, progress=progress)
    meta = {"perception": per.name, "fem_sha256": per.fem_checksum, "init": str(init),
            "fam": f"the FAM of {per.name} (frozen)", "steps": cfg.steps,
            "seconds": round(time.time() - t0, 1), "data": asdict(data), "config": cfg.to_dict()}
    sha = codec.save(Path(out) / "codec.pt", meta)
    return {"out": str(Path(out) / "codec.pt"), "sha256": sha, "seconds": meta["seconds"]}
