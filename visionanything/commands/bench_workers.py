"""`visionanything bench-workers`: detection jobs per second and keyframe latency with 1, 2, 4…
worker processes behind Redis (`inference.bench.scaleout`), random weights, this machine.
Without --redis it starts a private redis-server (Debian's package) on a free loopback port."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("visionanything.bench_workers")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench-workers",
        help="measure detection workers behind Redis (1, 2, 4 processes)",
        description="Start N detection worker processes (random weights), keep them busy with "
        "keyframe jobs through Redis and report jobs/s and keyframe latency p50/p95 per N.",
    )
    parser.add_argument("--redis", default=None, metavar="URL", help="default: a private one")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per count")
    parser.add_argument("--detector-size", type=int, default=384, help="detector shortest edge")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json")
    parser.add_argument("--markdown", type=Path, default=None, metavar="OUT.md")
    parser.add_argument("--plot", type=Path, default=None, metavar="OUT.png")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from skimage import data

    from inference.bench.scaleout import as_json, markdown, measure

    try:
        counts = [int(n) for n in args.workers.split(",") if n.strip()]
        if not counts or min(counts) < 1 or max(counts) > 16:
            raise ValueError
    except ValueError:
        log.error("--workers must list counts in 1..16, e.g. 1,2,4")
        return 2
    import cv2
    import numpy as np

    frame = np.ascontiguousarray(cv2.resize(np.asarray(data.coffee()), (640, 480)), np.uint8)
    server = None
    url = args.redis
    if url is None:
        server, url = _private_redis()
        if server is None:
            log.error("no --redis given and no redis-server here: apt-get install redis-server")
            return 2
    print(f"bench-workers: {counts} worker(s) against {url}, {args.seconds:.0f} s each")
    try:
        rows = [
            measure(url, n, frame, seconds=args.seconds, detector_size=args.detector_size)
            for n in counts
        ]
    except (TimeoutError, RuntimeError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    import os
    import platform

    header = (
        f"Detection workers behind Redis: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, random weights, detector {args.detector_size}, "
        f"{args.seconds:.0f} s per count"
    )
    table = markdown(rows, header)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps(as_json(rows), indent=2) + "\n")
    if args.plot:
        _plot(rows, args.plot)
    return 0


def _private_redis() -> tuple[subprocess.Popen[bytes] | None, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        return None, ""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def _plot(rows: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [r.workers for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(workers, [r.jobs_per_s for r in rows], "o-")
    left.set(xlabel="worker processes", ylabel="detection jobs / s", xticks=workers)
    right.plot(workers, [r.latency_p50_ms for r in rows], "o-", label="p50")
    right.plot(workers, [r.latency_p95_ms for r in rows], "s--", label="p95")
    right.set(xlabel="worker processes", ylabel="keyframe latency (ms)", xticks=workers)
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
