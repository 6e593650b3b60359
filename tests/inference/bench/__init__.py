"""tests/inference/bench."""
