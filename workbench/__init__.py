"""Retro Workbench: transfer reinforcement learning on retro games, with a live view of the agent."""

__version__ = "0.1.0"
