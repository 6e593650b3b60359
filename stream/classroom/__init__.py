"""stream/classroom."""
