"""inference/lighting."""
