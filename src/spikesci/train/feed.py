"""Feeding a training loop from the endless scene generator (`data.synth`): samples made in worker
processes, each used a few times under different dihedral views, shuffled through a small buffer.

Why its own module: the perception, x265-FAM and folded-codec recipes all train on this feed, and generating
a sample costs about as much as a training step, so reuse halves the generator's share of the time.
"""

from __future__ import annotations

import numpy as np
import torch

from spikesci.models.layers import dihedral
from spikesci.train.interrupt import exit_quietly_on_sigterm


def stream_loader(stream, workers: int) -> torch.utils.data.DataLoader:
    """The generator's samples one by one from `workers` processes (0: in this one), kept alive across
    epochs; a worker stopped with its process group exits quietly, so the run still saves."""
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers,
                                       persistent_workers=workers > 0, worker_init_fn=exit_quietly_on_sigterm)


class ReuseBuffer:
    """Yields each sample of `source` `reuse` times under different dihedral transforms, shuffled through a
    buffer, in batches. Deterministic for a seed."""

    def __init__(self, source, batch: int, reuse: int, seed: int, size: int = 64):
        self.source, self.batch, self.reuse = iter(source), batch, reuse
        self.rng = np.random.default_rng([seed, 11])
        self.buf: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.size = size
        self.pulled = 0  # samples taken from the source (what a resumed run skips)

    def _fill(self) -> None:
        while len(self.buf) < self.size:
            spikes, target = next(self.source)
            self.pulled += 1
            for k in self.rng.permutation(8)[: self.reuse]:
                self.buf.append((dihedral(spikes, int(k)), dihedral(target, int(k))))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._fill()
        pick = sorted(self.rng.choice(len(self.buf), self.batch, replace=False), reverse=True)
        items = [self.buf.pop(int(i)) for i in pick]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])
