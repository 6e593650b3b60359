"""tests/inference/overlay."""
