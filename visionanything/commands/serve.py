"""`visionanything serve`: the live camera server (the page in web/, WebRTC signalling, health
and metrics), HTTPS with a self-signed certificate by default (or the operator's own, with
`--cert`/`--key`). HTTPS listens on every interface (phones come over the LAN); `--http` only
on 127.0.0.1 unless `--host` says otherwise.

It listens at once and loads the models in the background (`/readyz` says when they are ready,
`GET /api/status` how far they have got: the pages' "Getting ready… 2 of 4"); it prints the
URLs, the one phones use (`--public-url`, else the LAN one) also as a QR code when that page can
open the camera (HTTPS), and says so when the weights are random. Ctrl-C (or SIGTERM) closes
every session and stops the engine. If the models cannot be loaded it says why and exits with 1.

`--if-missing ask` (what `make serve` uses) offers to fetch missing checkpoints on a terminal
and serves demo mode otherwise (`visionanything.commands.weights_offer`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from visionanything.commands.options import add_model_options, models_from_args
from visionanything.commands.redis_url import add_redis_options, describe, redis_url
from visionanything.commands.weights_offer import (
    IF_MISSING,
    Ask,
    Fetch,
    ask_on_terminal,
    choose_models,
    fetch_now,
)

if TYPE_CHECKING:
    from stream.app import EngineFactory, ServerConfig
    from stream.edge.loading import LoadProgress
    from stream.webrtc.engine_seam import EngineLike
from inference.core.device import resolve_device
from inference.live.prebuild import PHONE_FRAMES, detectors_to_warm
from inference.weights.checkpoints import Manifest
from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.redis_room_store import RedisRoomStore
from stream.edge.access_log import RUNNER_OPTIONS
from stream.edge.limits import ServerLimits
from stream.edge.network import NetworkSettings
from stream.edge.urls import banner, phone_hosts, server_urls
from stream.webrtc.session_settings import SessionSettings
from visionanything.commands.options import SERVE_DETECTOR_SIZE
from visionanything.commands.serve_hints import (
    _has_make_target,
    _teacher_hint,
    _tls_context,
    cli_command,
    listen_host,
    own_certificate_context,
)
from visionanything.commands.serve_loading import exit_past_unfinished_builds, load_progress
from visionanything.commands.serve_options import (
    add_ice_options,
    add_photo_options,
    add_room_options,
    add_video_options,
    config_from_args,
)
from visionanything.commands.serve_signals import stop_on_signals

log = logging.getLogger("visionanything.serve")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HTTPS_PORT, HTTP_PORT = 8443, 8080
"""The steps of a model load as the pages count them ("Getting ready… 2 of 4"): importing
torch and transformers, building the models, the detector's first calls on a phone's frame
shapes, the engine."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the live camera server",
        description="Serve the live camera page and stream annotated video back to phones "
        "over WebRTC. HTTPS by default (phones allow the camera only on secure pages).",
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: all interfaces over HTTPS, 127.0.0.1 with --http)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help=f"default {HTTPS_PORT}, or {HTTP_PORT} with --http"
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="plain HTTP (for localhost only: phones refuse the camera on http:// LAN pages)",
    )
    parser.add_argument(
        "--public-url",
        default=NetworkSettings.public_url,
        metavar="URL",
        help="the address phones open, e.g. https://va.school.org behind a proxy or DNS name; "
        "room links and QR codes use it (default: this machine's LAN address)",
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=Path(".tls"),
        help="where the self-signed certificate is kept (generated on first run)",
    )
    parser.add_argument(
        "--cert",
        type=Path,
        default=None,
        metavar="PATH",
        help="a real certificate (PEM, the chain after it) instead of the self-signed one; "
        "needs --key",
    )
    parser.add_argument(
        "--key", type=Path, default=None, metavar="PATH", help="the private key (PEM) of --cert"
    )
    add_model_options(parser, detector_size=SERVE_DETECTOR_SIZE, random_use="load tests, demos")
    parser.add_argument(
        "--if-missing",
        choices=IF_MISSING,
        default="stop",
        help="with --models real, when checkpoints are missing: stop (default: exit naming the "
        "fetch command), ask (on a terminal, offer to fetch them now; elsewhere serve demo "
        "mode), demo (serve random weights, saying so). `make serve` uses ask",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="CPU threads for the models (default on a CPU: half the cores, so the video "
        "codecs keep the rest and the returned video stays smooth)",
    )
    parser.add_argument(
        "--max-sessions", type=int, default=ServerLimits.max_sessions, help="phones at once"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=SessionSettings.idle_timeout_s,
        help="seconds without video before a session is closed",
    )
    parser.add_argument(
        "--output-height",
        type=int,
        default=SessionSettings.output_height,
        help="rows of the video sent back (default: the camera's; never upscaled)",
    )
    parser.add_argument(
        "--no-follow-masks",
        dest="follow_masks",
        action="store_false",
        default=SessionSettings.follow_masks,
        help="draw masks where the model saw them instead of moving them with the picture "
        "between results (optical flow); for comparing",
    )
    parser.add_argument(
        "--offers-per-minute",
        type=int,
        default=ServerLimits.offers_per_minute,
        help="signalling rate limit per client address (0: none)",
    )
    parser.add_argument(
        "--sessions-per-address",
        type=int,
        default=ServerLimits.sessions_per_address,
        help="phones open at once from one client address (0: no limit; raise it for load "
        "tests from one machine or when phones come through one proxy)",
    )
    parser.add_argument(
        "--screens-per-address",
        type=int,
        default=ServerLimits.viewers_per_address,
        help="class screens (room viewers) open at once from one client address (0: no limit)",
    )
    parser.add_argument("--web-dir", type=Path, default=Path("web"), help="the page's static files")
    parser.add_argument(
        "--teachers-file",
        type=Path,
        default=ClassroomSettings.teachers_file,
        help="teacher accounts for classroom rooms, made with `visionanything teacher add` "
        "(default: $VISIONANYTHING_DATA_DIR/teachers.json or ~/.local/share/visionanything/)",
    )
    add_redis_options(
        parser,
        "send keyframe detection to `visionanything worker` processes and share rooms "
        "through it (default: detect in this process)",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=list(NetworkSettings.trusted_proxies),
        metavar="CIDR",
        help="a reverse proxy or load balancer (address or network, repeatable): requests "
        "from it name their client in X-Forwarded-For, so per-address limits count each "
        "client; from anywhere else the header is ignored",
    )
    parser.add_argument(
        "--max-viewers",
        type=int,
        default=ServerLimits.max_viewers,
        help="class screens (projectors) watching rooms at once (default %(default)s)",
    )
    add_photo_options(parser)
    add_room_options(parser)
    add_ice_options(parser)
    add_video_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # imported here: `visionanything segment --help` should not pay for WebRTC or torch

    port = args.port if args.port is not None else (HTTP_PORT if args.http else HTTPS_PORT)
    host = listen_host(args.host, args.http)
    try:
        if not 0 <= port <= 65535:
            raise ValueError(f"--port {port} must lie in 0..65535")
        if not 64 <= args.detector_size <= 2048:
            raise ValueError(f"--detector-size {args.detector_size} must lie in 64..2048")
        if args.torch_threads is not None and args.torch_threads < 1:
            raise ValueError(f"--torch-threads {args.torch_threads} must be at least 1")
        args.redis = redis_url(args)  # from the environment or a file; never logged
        # after the checks above: a mistyped option stops before anything is offered
        try:
            args.models = pick_models(args)
        except KeyboardInterrupt:  # at the question or during the download
            print()
            return EXIT_INTERRUPTED
        config = config_from_args(args, lan_hosts=tuple(phone_hosts(host)))
        if args.http and (args.cert or args.key):
            raise ValueError("--cert and --key are for HTTPS: leave out --http")
        if args.http:
            context = None
        elif args.cert or args.key:
            context = own_certificate_context(args.cert, args.key)
        else:
            context = _tls_context(args.cert_dir, host)
    except (ValueError, OSError, ssl.SSLError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    progress = load_progress()
    build = _engine_factory(args, progress)
    loaded = threading.Event()  # the factory returned or raised

    def factory() -> EngineLike:
        try:
            return build()
        finally:
            loaded.set()

    status = asyncio.run(_serve(host, port, context, config, factory, args.redis, progress))
    return exit_past_unfinished_builds(status, loading=not loaded.is_set())


def pick_models(
    args: argparse.Namespace,
    *,
    is_terminal: Callable[[], bool] | None = None,
    ask: Ask = ask_on_terminal,
    fetch: Fetch = fetch_now,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> str:
    """The --models to serve: as given, except that with --models real and missing checkpoints
    --if-missing decides (`weights_offer.choose_models`); its one line is said here."""
    if args.models != "real" or args.if_missing == "stop":
        return str(args.models)

    choice = choose_models(
        args.if_missing,
        lambda: Manifest.load(args.manifest),
        is_terminal=is_terminal or stdin_is_terminal,
        ask=ask,
        fetch=fetch,
        later=fetch_hint(cli_command()),
        detector=getattr(args, "detector", None),
    )
    if choice.message:
        say(choice.message)
    return choice.models


def stdin_is_terminal() -> bool:
    """Whether a person can answer on stdin: not under CI, systemd (stdin closed or
    /dev/null) or a pipe."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed
        return False


def fetch_hint(cli: str, makefile: Path = Path("Makefile")) -> str:
    """The command that fetches the checkpoints, as typed here: `make weights` beside this
    Makefile, else the CLI's own."""
    command = f"{cli} weights fetch"
    if _has_make_target(makefile, "weights"):
        return f"make weights (or {command})"
    return command


def model_threads(cores: int) -> int:
    """Half the cores for the models on a CPU. Measured on 2 cores with 4 phones: one model
    thread returned 9.9 fps (p50) against 6.1 with two, because the VP8 codecs of every session
    need CPU at the camera's rate while the models can lag."""
    return max(1, cores // 2)


def _engine_factory(
    args: argparse.Namespace, progress: LoadProgress | None = None
) -> EngineFactory:
    """Builds the engine; slow (torch import, model construction), run in a background thread.
    Each of `LOAD_STEPS` is reported to `progress` as it starts (a step not needed is
    skipped)."""

    def begin(step: str) -> None:
        if progress is not None:
            progress.begin(step)

    def build() -> EngineLike:
        begin("importing")
        import torch

        # transformers and the model code: seconds, counted as importing
        import inference.detection.detector
        import inference.segmentation.segmenter  # noqa: F401
        from inference.live.engine import Engine
        from inference.live.engine_settings import EngineSettings

        device = resolve_device(args.device)
        if device.type == "cpu":
            threads = args.torch_threads or model_threads(os.cpu_count() or 1)
            torch.set_num_threads(threads)
            log.info("models use %d CPU thread(s) of %s", threads, os.cpu_count())
        log.info("device: %s; models: %s; segmenter size %d", device, args.models, args.size)
        # Ready on the exact eager path; the faster runtimes are built in the background (one at
        # a time, lowest CPU priority) and swapped in when ready: no frame waits for a
        # conversion. The encoder first, then each new frame shape of the detector.
        from inference.segmentation.encoder_runtimes import (
            resolve_runtime,
            use_runtime_in_background,
        )

        resolve_runtime(args.runtime, device)  # a runtime that cannot run here stops us now
        begin("models")
        models = models_from_args(args, device, runtime="torch")
        if args.runtime != "torch":
            use_runtime_in_background(models.segmenter, args.runtime)
        models.detector.runner.background_conversion = True
        if models.detector.runtime == "openvino" and not args.redis:
            # start building for a phone's landscape and portrait frames now (first run: a
            # minute or two each, unless `weights prebuild` did it); phones are served on torch
            # meanwhile
            begin("warming up")
            for detector in detectors_to_warm(models.detector):  # first looks' first
                for size in PHONE_FRAMES:
                    seconds = detector.warm_up(size)
                    log.info(
                        "detector (size %d) answered %dx%d frames in %.1f s",
                        detector.settings.shortest_edge,
                        size[1],
                        size[0],
                        seconds,
                    )
        begin("engine")
        broker = None
        if args.redis:
            from inference.scaleout.redis_broker import RedisBroker

            broker = RedisBroker(args.redis)
            log.info("keyframe detection goes to workers through %s", describe(args.redis))
        return Engine(models, EngineSettings.for_device(device.type), broker=broker)

    return build


async def _serve(
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    config: ServerConfig,
    factory: EngineFactory,
    redis_url: str | None = None,
    progress: LoadProgress | None = None,
) -> int:
    stop = asyncio.Event()
    status = EXIT_OK

    def fatal(message: str) -> None:
        nonlocal status
        log.error("cannot serve without models (%s); stopping", message)
        status = EXIT_FAILED
        stop.set()

    stop_on_signals(asyncio.get_running_loop(), stop)
    room_store = None
    if redis_url:  # rooms shared by every media server on this Redis
        room_store = RedisRoomStore(
            redis_url,
            max_rooms=config.classroom.max_rooms,
            max_per_teacher=config.classroom.max_rooms_per_teacher,
            ttl_s=config.classroom.room_idle_s,
        )
    app = create_app(
        config, engine_factory=factory, on_fatal=fatal, room_store=room_store, progress=progress
    )
    runner = web.AppRunner(app, **RUNNER_OPTIONS)  # our own access log (stream.edge.access_log)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context)
        await site.start()
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        await runner.cleanup()
        return EXIT_FAILED
    bound_port = int(runner.addresses[0][1]) if runner.addresses else port  # port 0: the OS chose
    cli = cli_command()
    urls = server_urls(
        host, bound_port, https=context is not None, lan=list(config.network.lan_hosts)
    )
    print(
        banner(
            urls,
            context is not None,
            public_url=config.network.public_url,
            random_weights=bool(config.random_weights),
            cli=cli,
        )
    )
    _teacher_hint(config, cli)
    print(flush=True)
    await stop.wait()
    log.info("shutting down: closing sessions and stopping the engine")
    await runner.cleanup()
    return status
