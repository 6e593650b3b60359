"""Load testing from recorded video: deterministic camera-like clips and many-phone replays."""
