"""Shared building blocks: networks, distributions, replay, the off-policy loop, I/O."""
