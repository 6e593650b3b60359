"""inference/scaleout."""
