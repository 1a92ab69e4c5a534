"""spikesci: Spike Coding for Intelligence."""
__version__ = "0.1.0"
