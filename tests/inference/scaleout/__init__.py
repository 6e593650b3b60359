"""tests/inference/scaleout."""
