"""stream/edge."""
