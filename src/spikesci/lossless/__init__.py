"""Lossless spike archives (`.spkz`) and the general-purpose baselines they are measured against."""

from spikesci.lossless.baselines import GENERAL_CODECS, measure_general, order0_entropy

__all__ = ["GENERAL_CODECS", "measure_general", "order0_entropy"]
