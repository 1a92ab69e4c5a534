"""Which model codes an archive's chunks: recorded in its header, so a reader refuses what it lacks.

- "ctx" (versions 1-2): the numpy two-stage count model with checkerboard phases (model.py, coder.py);
- "simple" (1-2): its first stage alone, the ISI baseline;
- "mix" (3): raster order, four adaptive context tables mixed in the logistic domain, one binary range
  coder, compiled (_mixkernel.h; the same integer algorithm in mixref.py). Written by default when the
  compiled coder is built: 2-3 % smaller than "ctx" and several times faster.
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_IDS = ("simple", "ctx", "mix")
MODEL_VERSIONS = {"simple": (1, 2), "ctx": (1, 2), "mix": (3,)}


@dataclass(frozen=True)
class ModelSpec:
    """A model name and version; the version defaults to the newest of that model."""

    name: str = "ctx"
    version: int = 0

    def __post_init__(self):
        if self.name not in MODEL_IDS:
            raise ValueError(f"unknown model {self.name!r}; known: {', '.join(MODEL_IDS)}")
        if self.version == 0:
            object.__setattr__(self, "version", MODEL_VERSIONS[self.name][-1])
        if self.version not in MODEL_VERSIONS[self.name]:
            raise ValueError(f"unknown version {self.version} of model {self.name!r}")


def known(name: str, version: int) -> bool:
    return name in MODEL_VERSIONS and version in MODEL_VERSIONS[name]


def default_model() -> str:
    """"mix" where its compiled coder is built, else "ctx" (the pure-Python "mix" is far too slow to pack)."""
    from spikesci.lossless.mix import COMPILED

    return "mix" if COMPILED else "ctx"


def in_threads(spec: ModelSpec) -> bool:
    """Whether chunks of this model can be coded in threads (the compiled coder releases the GIL)."""
    if spec.name != "mix":
        return False
    from spikesci.lossless.mix import THREADS_OK

    return THREADS_OK
