"""tests/inference/graphs."""
