"""tests/stream/classroom."""
