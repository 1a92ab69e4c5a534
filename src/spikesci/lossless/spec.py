"""Which model codes an archive's chunks: recorded in its header, so a reader refuses what it lacks.

- "ctx" (versions 1-2): the numpy two-stage count model with checkerboard phases (model.py, coder.py);
- "simple" (1-2): its first stage alone, the ISI baseline;
- "mix" (3): raster order, four adaptive context tables mixed in the logistic domain, one binary range
  coder, compiled (_mixkernel.h; the same integer algorithm in mixref.py). Written by default when the
  compiled coder is built: 2-3 % smaller than "ctx" and several times faster.
"""

from __future__ import annotations

MODEL_IDS = ("simple", "ctx", "mix")
MODEL_VERSIONS = {"simple": (1, 2), "ctx": (1, 2), "mix": (3,)}


class ModelSpec:
    """A model name and version (default: the newest of that model), checked. A plain class, not a
    dataclass: the fast unpack path does not import dataclasses (and inspect) for it."""

    __slots__ = ("name", "version")

    def __init__(self, name: str = "ctx", version: int = 0):
        if name not in MODEL_IDS:
            raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_IDS)}")
        version = version or MODEL_VERSIONS[name][-1]
        if version not in MODEL_VERSIONS[name]:
            raise ValueError(f"unknown version {version} of model {name!r}")
        self.name, self.version = name, version

    def __eq__(self, other) -> bool:
        return isinstance(other, ModelSpec) and (self.name, self.version) == (other.name, other.version)

    def __hash__(self) -> int:
        return hash((self.name, self.version))

    def __repr__(self) -> str:
        return f"ModelSpec({self.name!r}, {self.version})"


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
