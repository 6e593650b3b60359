"""inference/detection."""
