"""Lossless spike archives (`.spkz`) and the general-purpose baselines they are measured against.

Names are loaded on first use, so `spikesci pack/unpack` never import the baselines (zstandard, bz2...).
"""

from __future__ import annotations

from spikesci._lazy import lazy_getattr

_NAMES = {
    "archive_info": "archive",
    "pack": "archive",
    "pack_spikes": "archive",
    "unpack": "archive",
    "unpack_spikes": "archive",
    "GENERAL_CODECS": "baselines",
    "measure_general": "baselines",
    "order0_entropy": "baselines",
}
__all__ = sorted(_NAMES)


__getattr__ = lazy_getattr("spikesci.lossless", _NAMES)
