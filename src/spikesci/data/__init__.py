"""Datasets built from the simulator (nothing is downloaded)."""
