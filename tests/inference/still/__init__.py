"""tests/inference/still."""
