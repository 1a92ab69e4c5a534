"""The learned feature codec (paper Sec. IV-B): hyperprior intra, DCVC-style inter, FMVR, exact decoding."""

from spikesci.models.codec.codec import FeatureCodec
from spikesci.models.codec.config import CodecConfig

__all__ = ["CodecConfig", "FeatureCodec"]
