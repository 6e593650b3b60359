"""stream/photos."""
