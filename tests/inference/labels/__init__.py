"""tests/inference/labels."""
