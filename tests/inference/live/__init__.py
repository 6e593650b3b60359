"""tests/inference/live."""
