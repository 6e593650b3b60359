"""inference/live."""
