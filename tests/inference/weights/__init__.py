"""tests/inference/weights."""
