"""The training recipe as one frozen dataclass, saved as JSON next to every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from spikesci.data.recon import SceneMix
from spikesci.models.analysis import FAMConfig
from spikesci.models.extract import FEMConfig


@dataclass(frozen=True)
class TrainConfig:
    """Stage 1 trains the FEM (+ light head, + Laplacian constraint); stage 2 the FAM with the FEM frozen."""

    stage: str = "all"  # fem | fam | all
    fem_steps: int = 3000
    fam_steps: int = 3000
    batch: int = 8
    crop: int = 64
    lr: float = 2e-3
    lap_weight: float = 0.002  # weight of the Laplacian constraint (0 = ablation "no constraint")
    flow_weight: float = 0.05  # weight of the feature-warping loss that teaches the FAM's flow estimator
    seed: int = 0
    device: str = "cpu"
    threads: int = 1  # torch threads: 1 is fastest on a shared machine (OpenMP spins when oversubscribed)
    val_scenes: int = 12
    val_every: int = 250
    ckpt_every: int = 100
    fem: FEMConfig = field(default_factory=FEMConfig)
    fam: FAMConfig = field(default_factory=FAMConfig)
    data: SceneMix = field(default_factory=SceneMix)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["fem"] = FEMConfig.from_dict(d["fem"])
        d["fam"] = FAMConfig.from_dict(d["fam"])
        mix = dict(d["data"])
        mix["motions"] = tuple(tuple(m) for m in mix["motions"])
        d["data"] = SceneMix(**mix)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def with_ablation(self, name: str | None) -> TrainConfig:
        """Named ablations of issue 4: ventral-only, no-pfu, no-laplacian, afr-warp, afr-deform."""
        if not name:
            return self
        if name == "ventral-only":
            return replace(self, fem=replace(self.fem, dorsal=False))
        if name == "no-pfu":
            return replace(self, fem=replace(self.fem, pfu=False))
        if name == "no-laplacian":
            return replace(self, lap_weight=0.0)
        if name in ("afr-warp", "afr-deform"):
            return replace(self, fam=replace(self.fam, afr=name.split("-")[1]))
        raise ValueError(f"unknown ablation {name!r}")


ABLATIONS = ("ventral-only", "no-pfu", "no-laplacian", "afr-warp", "afr-deform")
