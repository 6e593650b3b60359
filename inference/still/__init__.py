"""inference/still."""
