"""stream/webrtc."""
