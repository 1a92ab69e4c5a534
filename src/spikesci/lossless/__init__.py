"""Lossless spike archives (`.spkz`) and the general-purpose baselines they are measured against."""

from spikesci.lossless.archive import archive_info, pack, pack_spikes, unpack, unpack_spikes
from spikesci.lossless.baselines import GENERAL_CODECS, measure_general, order0_entropy

__all__ = [
    "GENERAL_CODECS",
    "archive_info",
    "measure_general",
    "order0_entropy",
    "pack",
    "pack_spikes",
    "unpack",
    "unpack_spikes",
]
