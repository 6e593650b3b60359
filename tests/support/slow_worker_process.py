"""Run as a process by the crash test: a real `DetectionWorker` whose detector takes 60 s, so
it is mid-job when the test kills it (SIGKILL). argv: redis URL, worker name."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import redis

from inference.scaleout.worker import DetectionWorker


def _slow(frames: list[Any], vocabulary: list[str], **_: Any) -> list[Any]:
    time.sleep(60)
    raise RuntimeError("never answers")


if __name__ == "__main__":
    client = redis.Redis.from_url(sys.argv[1])
    DetectionWorker(client, _slow, name=sys.argv[2]).run(threading.Event())
