"""tests/stream/photos."""
