"""tests/stream."""
