"""Benchmarks behind `spikesci bench ...` that compare whole pipelines (the paradigm comparison)."""
