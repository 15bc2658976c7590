"""Scripted baselines scored with the transfer protocol's budget and counting rule (JERK)."""
