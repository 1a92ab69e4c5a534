"""Semantic tasks on spikes and on decoded features (classification: tasks.classify)."""
