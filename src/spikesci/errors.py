"""One error family, so the CLI can turn any of them into one clear line on stderr."""


class SpikeSciError(Exception):
    """Base class: a problem with the user's input that a person can act on."""


class SpikeFileError(SpikeSciError):
    """A spike file (.dat / .npz) is missing, malformed, or does not match the given size."""


class ContainerError(SpikeSciError):
    """A .spkz / .sci container is truncated, corrupted, of an unknown version, or not ours."""


class ModelMismatchError(SpikeSciError):
    """A stream was made by other weights or another model than the one asked to decode it."""


class ConfigError(SpikeSciError, ValueError):
    """A configuration value is out of range (also a ValueError for API callers)."""
