"""inference/core."""
