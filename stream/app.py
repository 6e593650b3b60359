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

from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.hunt_api import RoomHunts, install_hunt_api
from stream.classroom.live_room import MAX_NAME_CHARS
from stream.classroom.room_api import install_room_api
from stream.classroom.room_store import CODE_ALPHABET, CODE_LENGTH, MemoryRoomStore, RoomStore
from stream.classroom.rooms import ROOMS_KEY, RoomHub
from stream.classroom.teacher_auth import TeacherAuth
from stream.classroom.teachers import TeacherStore, default_teachers_path
from stream.classroom.viewers import VIEWERS_KEY, ViewerRegistry
from stream.edge import access_log, redis_outage
from stream.edge.client_address import parse_trusted_proxies, peer_address
from stream.edge.health import METRICS_KEY, StreamMetrics, health_routes
from stream.edge.limits import ServerLimits
from stream.edge.loading import LoadProgress
from stream.edge.network import NetworkSettings
from stream.edge.page_choices import install_page_choices
from stream.edge.rate_limits import RateLimiter
from stream.edge.security import install as install_security
from stream.edge.urls import PhoneOrigin
from stream.photos.library_settings import PhotoLibrarySettings
from stream.photos.photo_api import PhotoSettings, install_photo_api
from stream.photos.snapshot_api import install_snapshots
from stream.photos.snapshots import SnapshotStore, default_snapshots_dir
from stream.signalling import OfferEndpoint
from stream.webrtc import ice, loss_recovery, video_codecs
from stream.webrtc.engine_seam import EngineLike
from stream.webrtc.engine_slot import ENGINE_KEY, EngineFactory, EngineSlot
from stream.webrtc.ice import IceSettings
from stream.webrtc.protocol import MAX_WORDS_CHARS
from stream.webrtc.registry import SESSIONS_KEY, SessionRegistry
from stream.webrtc.session_settings import SessionSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ServerConfig:
    """Server-wide settings, in groups each validated where it is defined.

    session         per-session behaviour (`stream.webrtc.session_settings.SessionSettings`)
    web_dir         the page's static files; None serves the API only
    random_weights  what the server was asked to load (`serve --models random`: True), so
                    pages show the demo badge while the models load; the loaded engine's
                    own answer wins. None: not said (unknown until the engine is loaded)
    limits          sessions, viewers, offers and their timings (`stream.edge.limits.ServerLimits`)
    network         the public URL, LAN addresses and trusted proxies
                    (`stream.edge.network.NetworkSettings`)
    ice             STUN/TURN servers for the server's peer connections and the pages'
                    (`GET /api/ice`, `stream.webrtc.ice.IceSettings`); empty: host candidates only
    classroom       rooms and teacher accounts
                    (`stream.classroom.classroom_settings.ClassroomSettings`)
    photo           limits of the photo API (`POST /api/segment`,
                    `stream.photos.photo_api.PhotoSettings`)
    photo_library   the 📸 photo library: where, its caps and retention
                    (`stream.photos.library_settings.PhotoLibrarySettings`)
    """

    session: SessionSettings = field(default_factory=SessionSettings)
    web_dir: Path | None = None
    random_weights: bool | None = None
    limits: ServerLimits = field(default_factory=ServerLimits)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    ice: IceSettings = field(default_factory=IceSettings)
    classroom: ClassroomSettings = field(default_factory=ClassroomSettings)
    photo: PhotoSettings = field(default_factory=PhotoSettings)
    photo_library: PhotoLibrarySettings = field(default_factory=PhotoLibrarySettings)


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
    limits, network, classroom = config.limits, config.network, config.classroom
    library = config.photo_library
    video_codecs.install_bitrate(config.session.video)  # the returned video's start and cap
    metrics = StreamMetrics()
    registry = SessionRegistry(limits.max_sessions, config.session, metrics)
    slot = EngineSlot(engine, engine_factory, on_fatal, config.random_weights, progress)
    rooms = RoomHub(
        room_store
        or MemoryRoomStore(
            classroom.max_rooms,
            max_per_teacher=classroom.max_rooms_per_teacher,
            idle_s=classroom.room_idle_s,
        )
    )
    viewers = ViewerRegistry(
        limits.max_viewers,
        metrics,
        max_buffered_bytes=config.session.max_buffered_bytes,
        connect_timeout_s=max(config.session.idle_timeout_s, limits.negotiation_timeout_s),
        close_timeout_s=config.session.close_timeout_s,
    )
    metrics.read_live(registry.live_numbers, slot.stats, slot.readiness)

    app = web.Application(client_max_size=limits.max_offer_bytes)
    install_security(app, config.web_dir)  # headers and bounded errors on every answer
    redis_outage.install(app, limits.retry_after_s)  # Redis down: 503, inside the headers
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
        limits=limits,
        rooms=rooms,
        viewers=viewers,
        ice=config.ice,
    )
    app.router.add_post("/api/offer", offers.handle)
    # pages ask before each offer, so the same per-address budget as offers, counted apart
    ice_limiter = RateLimiter(limits.offers_per_minute, 60.0)
    ice.install(
        app,
        config.ice,
        lambda request: ice_limiter.allow(peer_address(request)),
        video_codec=config.session.video.codec,  # the pages' codec preference (issue 19)
    )
    # the client address (trusted proxies) before any other middleware; the pseudonym for
    # the address-free access log (stream.edge.access_log)
    access_log.install(app, offers.pseudonym, parse_trusted_proxies(network.trusted_proxies))
    teachers = TeacherStore(classroom.teachers_file or default_teachers_path())
    TeacherAuth(teachers, secure_cookies=classroom.secure_cookies).install(app)
    phone_origin = PhoneOrigin(network.public_url, network.lan_hosts)
    install_room_api(app, rooms, config.web_dir, phone_origin)
    install_hunt_api(app, RoomHunts(rooms))
    install_photo_api(app, config.photo, config.web_dir)
    install_snapshots(
        app,
        SnapshotStore(
            library.directory or default_snapshots_dir(),
            max_count=library.max_count,
            max_bytes=library.max_bytes,
        ),
        config.web_dir,
        per_session_per_minute=library.per_session_per_minute,
        policy=library.policy,
    )
    app.router.add_routes(health_routes(metrics, slot.readiness))
    app.router.add_get("/api/status", _status)
    install_page_choices(  # the pages' themes and limits (web/ types none of them)
        app,
        lambda: slot.engine.themes if slot.engine else None,
        max_words_chars=MAX_WORDS_CHARS,
        max_name_chars=MAX_NAME_CHARS,
        code_length=CODE_LENGTH,
        code_alphabet=CODE_ALPHABET,
    )
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
    pool = ThreadPoolExecutor(config.limits.render_threads, thread_name_prefix="overlay")
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
            async with asyncio.timeout(app[CONFIG_KEY].limits.engine_stop_timeout_s):
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
