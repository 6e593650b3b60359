"""`visionanything worker`: a detection worker for `serve --redis` (see
`inference.scaleout.worker`): loads Grounding DINO, takes keyframe jobs from Redis, batches
what is waiting, answers each media server; Prometheus metrics on --metrics-port."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from inference.core.dependency_guards import isolate_forked_children
from inference.core.device import resolve_device
from inference.models import resolve_detector_runtime
from inference.weights.checkpoints import Manifest
from visionanything.commands.options import add_model_options, detector_settings
from visionanything.commands.redis_url import add_redis_options, describe, redis_url

log = logging.getLogger("visionanything.worker")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker",
        help="run a detection worker for `serve --redis`",
        description="Take keyframe detection jobs from Redis, run the detector (on a GPU when "
        "there is one), answer the media servers.",
    )
    add_redis_options(parser, "where the jobs are (one of the three ways is needed)")
    parser.add_argument("--batch", type=int, default=1, help="jobs per detector call (GPU: 4-8)")
    parser.add_argument(
        "--metrics-port", type=int, default=9100, help="Prometheus metrics (0: none)"
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address the metrics listen on (default 127.0.0.1: this machine only; 0.0.0.0 "
        "for a scraper on the network, behind a firewall)",
    )
    parser.add_argument("--name", default=None, help="consumer name (default: host-pid)")
    parser.add_argument("--prefix", default="va", help="Redis key prefix (as the servers')")
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="CPU threads for the detector"
    )
    add_model_options(parser, detector_size=512, random_use="benchmarks and tests")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.batch < 1 or args.batch > 64:
        log.error("--batch %d must lie in 1..64", args.batch)
        return 2
    try:
        url = redis_url(args)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    if url is None:
        log.error("no Redis: set $VISIONANYTHING_REDIS_URL or give --redis-url-file PATH")
        return 2
    import redis
    from prometheus_client import start_http_server

    from inference.detection.loading import load_detector
    from inference.detection.random_weights import build_random_detector
    from inference.scaleout.worker import DetectionWorker, WorkerMetrics

    device = resolve_device(args.device)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    settings = detector_settings(args)
    try:
        if args.models == "random":
            detector = build_random_detector(device, settings)
        else:
            manifest = Manifest.load(args.manifest) if args.manifest else Manifest.load()
            detector = load_detector(manifest, device, settings)
        runtime = resolve_detector_runtime(args.detector_runtime, device)
        if runtime != detector.runtime:
            detector = detector.with_runtime(runtime)
    except Exception as exc:
        log.error("cannot load the detector: %s", exc)
        return 1
    metrics = WorkerMetrics()
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.metrics_host, registry=metrics.registry)
        log.info("metrics on %s:%d/metrics", args.metrics_host, args.metrics_port)
    client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)
    worker = DetectionWorker(
        client,
        detector.detect,
        name=args.name,
        prefix=args.prefix,
        batch=args.batch,
        metrics=metrics,
    )
    stop = threading.Event()
    # a child forked later (by a library) must die of SIGTERM, not run this handler and
    # outlive its terminate(): the exit would wait for it
    isolate_forked_children()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info(
        "worker %s on %s, detector %s (%s)", worker.name, device, detector.runtime, describe(url)
    )
    worker.run(stop)
    log.info("worker %s stopped: %d done, %d dropped", worker.name, worker.done, worker.dropped)
    return 0
