"""Models and the live worker (see docs/ARCHITECTURE.md)."""

from inference.core import dependency_guards

# first thing, before any of our modules imports OpenVINO or transformers
dependency_guards.disable_telemetry()
