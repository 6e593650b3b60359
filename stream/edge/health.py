"""Operator endpoints: `/healthz` (the process answers), `/readyz` (models loaded, broker
reachable) and `/metrics` (Prometheus text format).

Every app owns its own `CollectorRegistry`, so several apps (tests, or one process serving two
ports) never share or clash over metrics. Numbers that already live elsewhere (the engine's
counters, the sessions' measured frame rates) are read at scrape time by a custom collector
instead of being copied into gauges on every frame.

None of these handlers touches the models or waits for the engine: `/healthz` must answer at
once even while every model thread is busy. `/readyz` reasons are redacted: a filesystem path
(e.g. in a model-loading error) is cut to its file name and a URL's credentials are masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from stream.edge.security import redact

log = logging.getLogger(__name__)

PREFIX = "visionanything"
# model stages take milliseconds (segmenter decode on a GPU) to seconds (detector on a CPU)
STAGE_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

# what /metrics may say about a session's path and codec (`stream.webrtc.connection_path`)
PATHS = ("host", "srflx", "relay", "pending")
TRANSPORTS = ("udp", "tcp", "pending")
CODECS = ("VP8", "H264", "other", "pending")


@dataclass(frozen=True)
class LiveNumbers:
    """Stream-side values read at scrape time (sums over the open sessions)."""

    sessions: int = 0
    fps_in: float = 0.0
    fps_out: float = 0.0
    overlay_fps: float = 0.0
    paths: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """open sessions by (path, transport): stream/webrtc/connection_path.py's bounded values"""
    codecs: Mapping[str, int] = field(default_factory=dict)
    """open sessions by negotiated video codec"""


@dataclass(frozen=True)
class Readiness:
    """What `/readyz` reports: ready, or why not (e.g. "starting: loading models")."""

    ready: bool
    reason: str = ""
    degraded: str | None = None  # ready, but without something (shown, still 200)


class StreamMetrics:
    """The media server's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions_opened = Counter(
            f"{PREFIX}_sessions_opened", "Sessions accepted by /api/offer", registry=r
        )
        self.sessions_closed = Counter(
            f"{PREFIX}_sessions_closed",
            "Sessions closed, by reason",
            ["reason"],
            registry=r,
        )
        self.offers_rejected = Counter(
            f"{PREFIX}_offers_rejected",
            "Offers refused, by reason (bad_request, too_large, starting, full, rate_limited, "
            "address_limit, cross_site, media_type, negotiation)",
            ["reason"],
            registry=r,
        )
        self.frames_in = Counter(
            f"{PREFIX}_frames_in", "Camera frames received from phones", registry=r
        )
        self.frames_out = Counter(
            f"{PREFIX}_frames_out", "Annotated frames handed to the video encoder", registry=r
        )
        self.frames_dropped = Counter(
            f"{PREFIX}_frames_dropped",
            "Frames dropped because a newer one arrived; stage=outgoing (before the encoder) "
            "or engine (before the models)",
            ["stage"],
            registry=r,
        )
        self.server_delay_seconds = Histogram(
            f"{PREFIX}_server_delay_seconds",
            "Camera frame decoded -> the same frame, annotated, handed to the video encoder",
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.frames_with_masks = Counter(
            f"{PREFIX}_frames_with_masks",
            "Outgoing frames that carried at least one mask (fresh or followed)",
            registry=r,
        )
        self.overlay_updates = Counter(
            f"{PREFIX}_overlay_updates", "Model results received (overlay updates)", registry=r
        )
        self.stage_seconds = Histogram(
            f"{PREFIX}_stage_seconds",
            "Latency of each engine stage per processed frame",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Stream-side errors, by kind (protocol, vocabulary, overlay, engine_call, offer)",
            ["kind"],
            registry=r,
        )
        self.messages = Counter(
            f"{PREFIX}_datachannel_messages",
            "Data-channel messages, by direction (in/out) and type",
            ["direction", "type"],
            registry=r,
        )
        self._live = _LiveCollector()
        r.register(self._live)

    def read_live(
        self,
        numbers: Callable[[], LiveNumbers],
        engine_stats: Callable[[], Mapping[str, Any] | None],
        readiness: Callable[[], Readiness],
    ) -> None:
        """Where the scrape-time values come from (set once the app is wired)."""
        self._live.numbers = numbers
        self._live.engine_stats = engine_stats
        self._live.readiness = readiness

    def frame_out(self, delay_s: float) -> None:
        self.frames_out.inc()
        self.server_delay_seconds.observe(delay_s)

    def observe_stages(self, timings_ms: Mapping[str, float]) -> None:
        for stage, ms in timings_ms.items():
            if isinstance(ms, int | float) and ms >= 0:
                self.stage_seconds.labels(stage=str(stage)[:32]).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    """Values read when Prometheus scrapes: open sessions, frame rates, engine counters."""

    def __init__(self) -> None:
        self.numbers: Callable[[], LiveNumbers] = LiveNumbers
        self.engine_stats: Callable[[], Mapping[str, Any] | None] = lambda: None
        self.readiness: Callable[[], Readiness] = lambda: Readiness(False, "not wired")

    def describe(self) -> Iterator[Metric]:
        return iter(())  # values appear and disappear with the engine; nothing to pre-declare

    def collect(self) -> Iterator[Metric]:
        live = self.numbers()
        for name, doc, value in (
            ("sessions", "Open sessions", live.sessions),
            ("fps_in", "Camera frames per second received, all sessions", live.fps_in),
            ("fps_out", "Annotated frames per second sent, all sessions", live.fps_out),
            ("overlay_fps", "Overlay updates (model results) per second", live.overlay_fps),
        ):
            yield GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=float(value))
        yield from _path_gauges(live)
        yield GaugeMetricFamily(
            f"{PREFIX}_ready",
            "1 when the models are loaded and the broker is reachable",
            value=1.0 if self.readiness().ready else 0.0,
        )
        try:
            stats = self.engine_stats()
        except Exception:  # a scrape must never fail because the engine is in trouble
            log.exception("engine.stats() failed during a metrics scrape")
            stats = None
        if not stats:
            return
        if isinstance(stats.get("errors"), int | float):
            yield CounterMetricFamily(
                f"{PREFIX}_engine_errors", "Engine cycles that failed", value=stats["errors"]
            )
        broker = stats.get("broker")
        if isinstance(broker, Mapping):
            for key, name, doc in (
                ("bad_results", "broker_bad_results", "Malformed worker answers skipped"),
                ("redis_errors", "broker_redis_errors", "Redis errors seen by the broker"),
            ):
                if isinstance(broker.get(key), int | float):
                    yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=broker[key])
        if isinstance(stats.get("detect_ms"), int | float):
            yield GaugeMetricFamily(
                f"{PREFIX}_engine_detect_seconds",
                "Latest keyframe detection time (slowest open session)",
                value=stats["detect_ms"] / 1000.0,
            )
        stages = stats.get("stages_ms")
        if isinstance(stages, Mapping):
            family = GaugeMetricFamily(
                f"{PREFIX}_engine_stage_seconds",
                "Engine stage latency, moving average over recent frames",
                labels=["stage"],
            )
            for stage, ms in stages.items():
                if isinstance(ms, int | float):
                    family.add_metric([str(stage)], ms / 1000.0)
            yield family


def _path_gauges(live: LiveNumbers) -> Iterator[Metric]:
    """Open sessions by ICE path and transport, and by video codec (issue 19: is this school
    relayed, over TCP?). Every known label value is always present, 0 when unused, so a
    dashboard's series do not appear and vanish; the values are bounded by construction."""
    by_path = GaugeMetricFamily(
        f"{PREFIX}_sessions_by_path",
        "Open sessions by ICE path (host, srflx, relay, pending) and the server leg's transport",
        labels=["path", "transport"],
    )
    for path in PATHS:
        for transport in TRANSPORTS:
            if (path == "pending") != (transport == "pending"):
                continue  # a nominated pair has a transport; a pending one has none
            by_path.add_metric([path, transport], float(live.paths.get((path, transport), 0)))
    yield by_path
    by_codec = GaugeMetricFamily(
        f"{PREFIX}_sessions_by_codec",
        "Open sessions by negotiated video codec (VP8, H264, other, pending)",
        labels=["codec"],
    )
    for codec in CODECS:
        by_codec.add_metric([codec], float(live.codecs.get(codec, 0)))
    yield by_codec


def health_routes(metrics: StreamMetrics, readiness: Callable[[], Readiness]) -> list[web.RouteDef]:
    """The three operator routes; `readiness` must be cheap and never block."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        state = readiness()
        if state.ready and state.degraded:
            return web.json_response({"status": "degraded", "reason": redact(state.degraded)})
        if state.ready:
            return web.json_response({"status": "ready"})
        return web.json_response(
            {"status": "not ready", "reason": redact(state.reason)}, status=503
        )

    async def prometheus(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", prometheus),
    ]


METRICS_KEY = web.AppKey("metrics", StreamMetrics)
