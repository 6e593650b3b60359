"""inference/weights."""
