"""The aiohttp application: the page (web/), signalling, health and metrics, wired together.

Long-lived resources live in `cleanup_ctx`, each torn down in reverse order:
  1. the overlay thread pool (pixel work for outgoing frames, off the event loop);
  2. the engine: an injected one is started at once; otherwise the models load in a background
     thread while the server already listens (`/readyz` 503, offers 503 + Retry-After, and
     `GET /api/status` says how far the load has got when the factory reports its steps to a
     `stream.edge.loading.LoadProgress`); stopped (in a thread: it joins its workers) at shutdown;
  3. the idle reaper.
`on_shutdown` closes every peer connection before any of that is torn down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from stream.classroom.room_api import install_room_api
from stream.classroom.room_store import (
    DEFAULT_IDLE_S,
    DEFAULT_ROOMS_PER_TEACHER,
    MemoryRoomStore,
    RoomStore,
)
from stream.classroom.rooms import ROOMS_KEY, RoomHub
from stream.classroom.teacher_auth import TeacherAuth
from stream.classroom.teachers import TeacherStore, default_teachers_path
from stream.classroom.viewers import VIEWERS_KEY, ViewerRegistry
from stream.edge import access_log, redis_outage
from stream.edge.client_address import parse_trusted_proxies, peer_address
from stream.edge.health import METRICS_KEY, StreamMetrics, health_routes
from stream.edge.loading import LoadProgress
from stream.edge.rate_limits import RateLimiter
from stream.edge.security import install as install_security
from stream.edge.urls import PhoneOrigin, parse_public_url
from stream.photos.photo_api import PhotoSettings, install_photo_api
from stream.photos.snapshot_api import install_snapshots
from stream.photos.snapshots import SnapshotPolicy, SnapshotStore, default_snapshots_dir
from stream.signalling import OfferEndpoint
from stream.webrtc import ice, loss_recovery, video_codecs
from stream.webrtc.engine_seam import EngineLike
from stream.webrtc.engine_slot import ENGINE_KEY, EngineFactory, EngineSlot
from stream.webrtc.ice import IceSettings
from stream.webrtc.registry import SESSIONS_KEY, SessionRegistry
from stream.webrtc.session_settings import SessionSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ServerConfig:
    """Server-wide settings (per-session ones are in `session`).

    web_dir            the page's static files; None serves the API only
    max_sessions       open sessions at most; more offers get 503 + Retry-After
    max_offer_bytes    request bodies larger than this get 413
    offers_per_minute  per client address; 0 disables the limit
    sessions_per_address  open phone sessions per client address; more get 429 (0: no limit)
    viewers_per_address   open viewers (class screens) per client address, counted apart
    render_threads     threads drawing overlays for all sessions
    max_viewers        screens watching rooms at most (an encoder each, no model time)
    max_rooms          rooms open at once
    max_rooms_per_teacher  rooms one teacher may have open at once
    room_idle_s        a room with no teacher, phone or screen for this long ends
    teachers_file      teacher accounts (`visionanything teacher add`); None: the default place
    secure_cookies     mark the teacher's login cookie Secure (served over HTTPS)
    photo              limits of the photo API (`POST /api/segment`, stream/photos/photo_api.py)
    snapshots_dir      the 📸 photo library (SQLite + JPEG files); None: the default place
                       ($VISIONANYTHING_DATA_DIR/snapshots or ~/.local/share/visionanything/...)
    snapshots_per_minute  📸 presses saved per phone per minute; more get `snapshot_limit`
    max_snapshots, max_snapshot_bytes  the library's caps: past them new photos are refused
    random_weights     what the server was asked to load (`serve --models random`: True), so
                       pages show the demo badge while the models load; the loaded engine's
                       own answer wins. None: not said (unknown until the engine is loaded)
    public_url         the address phones open (`serve --public-url`); room links use it
    lan_hosts          the server's addresses on the network, best first: room links use the
                       first instead of the teacher's "localhost" (`stream.edge.urls.PhoneOrigin`)
    trusted_proxies    networks (CIDR) whose X-Forwarded-For names the client
                       (`serve --trusted-proxy`, `stream.edge.client_address`)
    ice                STUN/TURN servers for the server's peer connections and the pages'
                       (`GET /api/ice`, `stream.webrtc.ice`); empty: host candidates only
    """

    session: SessionSettings = field(default_factory=SessionSettings)
    web_dir: Path | None = None
    max_sessions: int = 4
    max_offer_bytes: int = 64 * 1024
    offers_per_minute: int = 30
    sessions_per_address: int = 2
    viewers_per_address: int = 8
    negotiation_timeout_s: float = 15.0
    retry_after_s: int = 5
    render_threads: int = 2
    engine_stop_timeout_s: float = 35.0
    max_viewers: int = 64
    max_rooms: int = 100
    max_rooms_per_teacher: int = DEFAULT_ROOMS_PER_TEACHER
    room_idle_s: float = DEFAULT_IDLE_S
    teachers_file: Path | None = None
    secure_cookies: bool = False
    photo: PhotoSettings = field(default_factory=PhotoSettings)
    snapshots_dir: Path | None = None
    snapshots_per_minute: int = 6
    max_snapshots: int = 1000
    max_snapshot_bytes: int = 500 * 1024 * 1024
    snapshot_policy: SnapshotPolicy = field(default_factory=SnapshotPolicy)  # retention, budgets
    random_weights: bool | None = None
    public_url: str | None = None
    lan_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    ice: IceSettings = field(default_factory=IceSettings)

    def __post_init__(self) -> None:
        if self.public_url is not None:  # stored in its checked form (scheme://host[:port])
            object.__setattr__(self, "public_url", parse_public_url(self.public_url))
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions}")
        if not 1024 <= self.max_offer_bytes <= 1024 * 1024:
            raise ValueError(
                f"max_offer_bytes must lie in 1 KiB..1 MiB, got {self.max_offer_bytes}"
            )
        if self.render_threads < 1:
            raise ValueError(f"render_threads must be at least 1, got {self.render_threads}")
        if self.sessions_per_address < 0 or self.viewers_per_address < 0:
            raise ValueError("sessions_per_address and viewers_per_address must be 0 or more")
        parse_trusted_proxies(self.trusted_proxies)  # a bad one stops here, not per request


CONFIG_KEY = web.AppKey("config", ServerConfig)


def create_app(
    config: ServerConfig | None = None,
    *,
    engine: EngineLike | None = None,
    engine_factory: EngineFactory | None = None,
    on_fatal: Callable[[str], None] | None = None,
    room_store: RoomStore | None = None,
    progress: LoadProgress | None = None,
) -> web.Application:
    """The app. Give either a built `engine` (the app starts and stops it) or an
    `engine_factory` (slow: called in a background thread after the server starts listening).
    `on_fatal(message)` is called if the factory fails (the serve command then exits).
    Rooms are kept in `room_store` (default: in this process). `progress` is where the factory
    reports its steps (it holds the same object); `GET /api/status` and `/readyz` read it."""
    if (engine is None) == (engine_factory is None):
        raise ValueError("give exactly one of engine and engine_factory")
    loss_recovery.install()  # phones' video recovers from a lost packet (see the module)
    config = config or ServerConfig()
    video_codecs.install_bitrate(config.session.video)  # the returned video's start and cap
    metrics = StreamMetrics()
    registry = SessionRegistry(config.max_sessions, config.session, metrics)
    slot = EngineSlot(engine, engine_factory, on_fatal, config.random_weights, progress)
    rooms = RoomHub(
        room_store
        or MemoryRoomStore(
            config.max_rooms,
            max_per_teacher=config.max_rooms_per_teacher,
            idle_s=config.room_idle_s,
        )
    )
    viewers = ViewerRegistry(
        config.max_viewers,
        metrics,
        max_buffered_bytes=config.session.max_buffered_bytes,
        connect_timeout_s=max(config.session.idle_timeout_s, config.negotiation_timeout_s),
        close_timeout_s=config.session.close_timeout_s,
    )
    metrics.read_live(registry.live_numbers, slot.stats, slot.readiness)

    app = web.Application(client_max_size=config.max_offer_bytes)
    install_security(app, config.web_dir)  # headers and bounded errors on every answer
    redis_outage.install(app, config.retry_after_s)  # Redis down: 503, inside the headers
    app[CONFIG_KEY] = config
    app[ENGINE_KEY] = slot
    app[SESSIONS_KEY] = registry
    app[METRICS_KEY] = metrics
    app[VIEWERS_KEY] = viewers

    offers = OfferEndpoint(
        registry,
        lambda: slot.engine,
        slot.readiness,
        metrics,
        max_body_bytes=config.max_offer_bytes,
        offers_per_minute=config.offers_per_minute,
        sessions_per_address=config.sessions_per_address,
        viewers_per_address=config.viewers_per_address,
        negotiation_timeout_s=config.negotiation_timeout_s,
        retry_after_s=config.retry_after_s,
        rooms=rooms,
        viewers=viewers,
        ice=config.ice,
    )
    app.router.add_post("/api/offer", offers.handle)
    # pages ask before each offer, so the same per-address budget as offers, counted apart
    ice_limiter = RateLimiter(config.offers_per_minute, 60.0)
    ice.install(
        app,
        config.ice,
        lambda request: ice_limiter.allow(peer_address(request)),
        video_codec=config.session.video.codec,  # the pages' codec preference (issue 19)
    )
    # the client address (trusted proxies) before any other middleware; the pseudonym for
    # the address-free access log (stream.edge.access_log)
    access_log.install(app, offers.pseudonym, parse_trusted_proxies(config.trusted_proxies))
    teachers = TeacherStore(config.teachers_file or default_teachers_path())
    TeacherAuth(teachers, secure_cookies=config.secure_cookies).install(app)
    install_room_api(
        app, rooms, config.web_dir, PhoneOrigin(config.public_url, tuple(config.lan_hosts))
    )
    install_photo_api(app, config.photo, config.web_dir)
    install_snapshots(
        app,
        SnapshotStore(
            config.snapshots_dir or default_snapshots_dir(),
            max_count=config.max_snapshots,
            max_bytes=config.max_snapshot_bytes,
        ),
        config.web_dir,
        per_session_per_minute=config.snapshots_per_minute,
        policy=config.snapshot_policy,
    )
    app.router.add_routes(health_routes(metrics, slot.readiness))
    app.router.add_get("/api/status", _status)
    _add_static(app, config.web_dir)

    app.cleanup_ctx.append(_overlay_pool)
    app.cleanup_ctx.append(_engine_lifecycle)
    app.cleanup_ctx.append(_idle_reaper)
    app.on_shutdown.append(_close_sessions)
    return app


async def _status(request: web.Request) -> web.Response:
    """What every page asks: `demo` (random weights: the pages show a badge saying the names
    are made up; null while unknown, so they ask again), `ready`, `loading` (how far the models
    have got, `{"step", "steps", "doing"}`, null once loaded: the pages' "Getting ready… 2 of 4")
    and `building` (faster runtimes still built in the background). Public and cheap: no model
    is touched, and step names say nothing about the machine."""
    slot = request.app[ENGINE_KEY]
    return web.json_response(
        {
            "demo": slot.random_weights(),
            "ready": slot.readiness().ready,
            "loading": slot.loading(),
            "building": slot.building(),
        }
    )


def _add_static(app: web.Application, web_dir: Path | None) -> None:
    if web_dir is None:
        return
    if not (web_dir / "index.html").is_file():
        log.warning("no page to serve: %s/index.html does not exist", web_dir)
        return
    index = web_dir / "index.html"

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(index)

    app.router.add_get("/", page)
    # registered last, so /api, /healthz, /readyz and /metrics win over files of the same name
    app.router.add_static("/", web_dir, follow_symlinks=False)


async def _overlay_pool(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    pool = ThreadPoolExecutor(config.render_threads, thread_name_prefix="overlay")
    app[SESSIONS_KEY].executor = pool
    yield
    pool.shutdown(wait=False, cancel_futures=True)


async def _engine_lifecycle(app: web.Application) -> AsyncIterator[None]:
    slot = app[ENGINE_KEY]
    loader: asyncio.Task[None] | None = None
    if slot.engine is not None:
        slot.engine.start()
    else:
        loader = asyncio.create_task(_load_engine(slot), name="load-models")
    yield
    if loader is not None:
        loader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loader
    engine = slot.engine
    if engine is not None:
        try:
            async with asyncio.timeout(app[CONFIG_KEY].engine_stop_timeout_s):
                await asyncio.to_thread(engine.stop)  # joins worker threads: not on the loop
        except Exception:
            log.exception("stopping the engine failed")
        log.info("engine stopped")


async def _load_engine(slot: EngineSlot) -> None:
    factory = slot.factory
    assert factory is not None
    log.info("loading models in the background; /readyz answers 503 until they are ready")
    started = time.monotonic()
    try:
        engine = await _in_daemon_thread(factory, "model-loader")
        engine.start()
    except Exception as exc:
        slot.error = f"{type(exc).__name__}: {exc}"
        log.error("loading the models failed: %s", slot.error)
        if slot.on_fatal is not None:
            slot.on_fatal(slot.error)
        return
    slot.engine = engine
    log.info("models ready after %.1f s; accepting sessions", time.monotonic() - started)


async def _in_daemon_thread(function: Callable[[], T], name: str) -> T:
    """`function()` in a daemon thread. Unlike an executor thread, a daemon thread does not keep
    the process alive: Ctrl-C during a long model load exits at once."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            loop.call_soon_threadsafe(outcome)

    def run() -> None:
        try:
            value = function()
        except BaseException as exc:
            error = exc

            def fail() -> None:
                if not future.done():
                    future.set_exception(error)

            deliver(fail)
        else:

            def succeed() -> None:
                if not future.done():
                    future.set_result(value)

            deliver(succeed)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


async def _idle_reaper(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[SESSIONS_KEY].reap_forever(), name="idle-reaper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_sessions(app: web.Application) -> None:
    await app[ROOMS_KEY].close()
    await asyncio.gather(
        app[SESSIONS_KEY].close_all("shutdown"), app[VIEWERS_KEY].close_all("shutdown")
    )
