"""tests/inference/core."""
