"""tests/stream/webrtc."""
