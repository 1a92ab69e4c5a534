"""Training of the learned perception (stage 1 FEM, stage 2 FAM): `spikesci train` / `-m spikesci.train`."""

from spikesci.train.config import ABLATIONS, TrainConfig
from spikesci.train.loop import train

__all__ = ["ABLATIONS", "TrainConfig", "train"]
