"""tests/inference/detection."""
