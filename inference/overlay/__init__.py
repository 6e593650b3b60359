"""inference/overlay."""
