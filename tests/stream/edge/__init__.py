"""tests/stream/edge."""
