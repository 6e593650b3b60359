"""inference/graphs."""
