"""Classic spike-to-image reconstructions (SpikeCV's TFP and TFI) on the convention of simulate/camera.py.

Both return luminance in [0, 1]: firing rate (spikes per frame) divided by the white rate, clipped.
"""

from spikesci.reconstruct.tfi import tfi, tfi_sequence
from spikesci.reconstruct.tfp import DEFAULT_WINDOW, tfp, tfp_sequence

__all__ = ["DEFAULT_WINDOW", "tfi", "tfi_sequence", "tfp", "tfp_sequence"]
