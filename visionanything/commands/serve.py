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
import contextlib
import dataclasses
import logging
import os
import shlex
import shutil
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream.classroom.room_store import DEFAULT_IDLE_S, DEFAULT_ROOMS_PER_TEACHER
from stream.webrtc.video_codecs import (
    DEFAULT_MAX_KBPS,
    DEFAULT_START_KBPS,
    DEFAULT_VIDEO_CODEC,
    VIDEO_CODECS,
)
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
    from stream.webrtc.ice import IceSettings

log = logging.getLogger("visionanything.serve")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HTTPS_PORT, HTTP_PORT = 8443, 8080
SERVE_DETECTOR_SIZE = 512
"""serve's --detector-size default; `weights prebuild` takes the same, or its graphs would be
for another input size."""
LOAD_STEPS = ("importing", "models", "warming up", "engine")
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
        default=None,
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
    parser.add_argument("--max-sessions", type=int, default=4, help="phones at once")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=20.0,
        help="seconds without video before a session is closed",
    )
    parser.add_argument(
        "--output-height",
        type=int,
        default=None,
        help="rows of the video sent back (default: the camera's; never upscaled)",
    )
    parser.add_argument(
        "--no-follow-masks",
        dest="follow_masks",
        action="store_false",
        help="draw masks where the model saw them instead of moving them with the picture "
        "between results (optical flow); for comparing",
    )
    parser.add_argument(
        "--offers-per-minute",
        type=int,
        default=30,
        help="signalling rate limit per client address (0: none)",
    )
    parser.add_argument(
        "--sessions-per-address",
        type=int,
        default=2,
        help="phones open at once from one client address (0: no limit; raise it for load "
        "tests from one machine or when phones come through one proxy)",
    )
    parser.add_argument(
        "--screens-per-address",
        type=int,
        default=8,
        help="class screens (room viewers) open at once from one client address (0: no limit)",
    )
    parser.add_argument("--web-dir", type=Path, default=Path("web"), help="the page's static files")
    parser.add_argument(
        "--teachers-file",
        type=Path,
        default=None,
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
        default=[],
        metavar="CIDR",
        help="a reverse proxy or load balancer (address or network, repeatable): requests "
        "from it name their client in X-Forwarded-For, so per-address limits count each "
        "client; from anywhere else the header is ignored",
    )
    parser.add_argument(
        "--max-viewers",
        type=int,
        default=64,
        help="class screens (projectors) watching rooms at once (default 64)",
    )
    add_photo_options(parser)
    add_room_options(parser)
    add_ice_options(parser)
    add_video_options(parser)
    parser.set_defaults(run=run)


# -- the photo library's options (stream/photos/snapshots.py) -------------------------------------


def add_photo_options(parser: argparse.ArgumentParser) -> None:
    """How long the 📸 library keeps a class's photos (a school's data-protection rule)."""
    parser.add_argument(
        "--photo-retention-days",
        type=int,
        default=30,
        metavar="DAYS",
        help="delete library photos older than this, checked every hour (1..3650, default 30)",
    )


def with_photo_options(config: ServerConfig, args: argparse.Namespace) -> ServerConfig:
    """`config` with the photo options applied; ValueError for a value out of range."""
    import dataclasses

    policy = dataclasses.replace(config.snapshot_policy, retention_days=args.photo_retention_days)
    return dataclasses.replace(config, snapshot_policy=policy)


# -- classroom rooms' options (stream/classroom/room_store.py, stream/classroom/rooms.py) ---------


def add_room_options(parser: argparse.ArgumentParser) -> None:
    """How many rooms one teacher may hold, and when a room nobody uses ends."""
    parser.add_argument(
        "--max-rooms-per-teacher",
        type=int,
        default=DEFAULT_ROOMS_PER_TEACHER,
        metavar="N",
        help="open rooms one teacher may have at once (default %(default)s)",
    )
    parser.add_argument(
        "--room-idle-minutes",
        type=float,
        default=DEFAULT_IDLE_S / 60,
        metavar="MINUTES",
        help="a room with no teacher, phone or class screen for this long ends "
        "(default %(default)g)",
    )


def with_room_options(config: ServerConfig, args: argparse.Namespace) -> ServerConfig:
    """`config` with the room options applied; ValueError for a value out of range."""
    import dataclasses

    if args.max_rooms_per_teacher < 1:
        raise ValueError(f"--max-rooms-per-teacher {args.max_rooms_per_teacher} must be 1 or more")
    if not 1 <= args.room_idle_minutes <= 7 * 24 * 60:
        raise ValueError(f"--room-idle-minutes {args.room_idle_minutes} must lie in 1..10080")
    return dataclasses.replace(
        config,
        max_rooms_per_teacher=args.max_rooms_per_teacher,
        room_idle_s=args.room_idle_minutes * 60,
    )


# -- end of the rooms' options -------------------------------------------------------------------


# -- ICE: STUN/TURN servers for both ends (stream/webrtc/ice.py) ----------------------------------

TURN_PASSWORD_ENV = "VISIONANYTHING_TURN_PASSWORD"
TURN_SECRET_ENV = "VISIONANYTHING_TURN_SECRET"


class _RefuseSecretOnArgv(argparse.Action):
    """`--turn-password`/`--turn-secret` exist only to refuse: argv is visible to every user of
    the machine (`ps`) and lands in shell history. Without them argparse would take either as
    an abbreviation of the `-file` option and treat the secret as a path."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        name = self.dest.replace("_", "-")
        env = TURN_PASSWORD_ENV if "password" in name else TURN_SECRET_ENV
        parser.error(f"--{name} is not accepted on the command line: use --{name}-file or ${env}")


def add_ice_options(parser: argparse.ArgumentParser) -> None:
    """STUN/TURN servers used by the server's peer connections and given to the pages."""
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a STUN or TURN server (repeatable): stun:HOST[:PORT], turn:HOST[:PORT]"
        "[?transport=udp|tcp], turns:HOST[:PORT]; default none (phones on the server's LAN)",
    )
    parser.add_argument("--turn-username", default=None, help="static TURN username")
    parser.add_argument(
        "--turn-password-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"file holding the static TURN password (or ${TURN_PASSWORD_ENV})",
    )
    parser.add_argument(
        "--turn-secret-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding a TURN REST shared secret (coturn use-auth-secret): per-page "
        f"credentials valid an hour (or ${TURN_SECRET_ENV})",
    )
    parser.add_argument(
        "--ice-relay-only",
        action="store_true",
        help="both ends use TURN-relayed candidates only (testing; networks that need it)",
    )
    for name in ("--turn-password", "--turn-secret"):
        parser.add_argument(name, nargs="?", action=_RefuseSecretOnArgv, help=argparse.SUPPRESS)


def _secret(path: Path | None, env: str, what: str, environ: Mapping[str, str]) -> str | None:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
        if not text:
            raise ValueError(f"the {what} file {path} is empty")
        return text
    return environ.get(env) or None


def ice_from_args(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> IceSettings:
    """The ICE settings the options describe; ValueError for an inconsistent set (a secret
    and static credentials, a turn: server without credentials, an unknown scheme).
    A password or secret in the environment counts only when a TURN server is configured, so a
    stray exported variable does not stop a LAN server."""
    from stream.webrtc.ice import IceSettings

    turn = any(u.startswith("turn") for u in args.ice_server)
    password = _secret(args.turn_password_file, TURN_PASSWORD_ENV, "TURN password", environ)
    secret = _secret(args.turn_secret_file, TURN_SECRET_ENV, "TURN secret", environ)
    if not turn and args.turn_password_file is None and args.turn_secret_file is None:
        password = secret = None  # only from the environment: not meant for this server
    if secret is not None and args.turn_username is None and args.turn_password_file is None:
        password = None  # the secret wins over a stray environment password
    return IceSettings(
        urls=tuple(args.ice_server),
        username=args.turn_username,
        password=password,
        secret=secret,
        relay_only=args.ice_relay_only,
    )


# -- end of the ICE options ----------------------------------------------------------------------


# -- the returned video: codec and bitrate (stream/webrtc/video_codecs.py, issue 19) --------------


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """Which codec phones use (iPhones encode H.264 in hardware) and the returned video's
    bitrate: where it starts and how far the browser's bandwidth estimate may raise it."""
    parser.add_argument(
        "--video-codec",
        choices=VIDEO_CODECS,
        default=DEFAULT_VIDEO_CODEC,
        help="auto: H.264 where the phone offers it (the page puts it first), else VP8; "
        "h264 / vp8: only that codec, phones without it are refused (default %(default)s)",
    )
    parser.add_argument(
        "--video-bitrate",
        type=int,
        default=DEFAULT_START_KBPS,
        metavar="KBPS",
        help="the returned video's starting bitrate; the phone's bandwidth estimate moves it "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--max-video-bitrate",
        type=int,
        default=DEFAULT_MAX_KBPS,
        metavar="KBPS",
        help="the most the returned video may use per phone (default %(default)s; aiortc "
        "itself caps VP8 at 1500, H.264 at 3000)",
    )


def with_video_options(config: ServerConfig, args: argparse.Namespace) -> ServerConfig:
    """`config` with the video options applied; ValueError for a value out of range."""
    from stream.webrtc.video_codecs import VideoSettings

    video = VideoSettings(
        codec=args.video_codec, start_kbps=args.video_bitrate, max_kbps=args.max_video_bitrate
    )
    return dataclasses.replace(config, session=dataclasses.replace(config.session, video=video))


# -- end of the video options --------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    # imported here: `visionanything segment --help` should not pay for WebRTC or torch
    from stream.app import ServerConfig
    from stream.edge.urls import phone_hosts
    from stream.webrtc.session_settings import SessionSettings

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
        config = ServerConfig(
            session=SessionSettings(
                idle_timeout_s=args.idle_timeout,
                output_height=args.output_height,
                follow_masks=args.follow_masks,
            ),
            web_dir=args.web_dir,
            max_sessions=args.max_sessions,
            offers_per_minute=args.offers_per_minute,
            sessions_per_address=args.sessions_per_address,
            viewers_per_address=args.screens_per_address,
            max_viewers=args.max_viewers,
            teachers_file=args.teachers_file,
            secure_cookies=not args.http,  # the login cookie travels over HTTPS only
            random_weights=args.models == "random",
            public_url=args.public_url,  # checked here: a bad one stops with exit status 2
            lan_hosts=tuple(phone_hosts(host)),
            trusted_proxies=tuple(args.trusted_proxy),
        )
        config = with_photo_options(config, args)
        config = with_room_options(config, args)
        config = dataclasses.replace(config, ice=ice_from_args(args))
        config = with_video_options(config, args)
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
    return _exit_past_unfinished_builds(status, loading=not loaded.is_set())


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
    from inference.weights.checkpoints import Manifest

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


def load_progress() -> LoadProgress:
    """The progress of this server's model load (`LOAD_STEPS`), with the background builds
    still running after it (`build_label` names them)."""
    from inference.graphs.background_builds import running_builds
    from stream.edge.loading import LoadProgress

    return LoadProgress(
        LOAD_STEPS, building=lambda: [build_label(name) for name in running_builds()]
    )


def build_label(thread_name: str) -> str:
    """A background build's thread name as the status shows it: "encoder-build-auto" →
    "segmenter encoder", "openvino-build-512x683" → "detector 683x512" (width × height)."""
    if thread_name.startswith("encoder-build-"):
        return "segmenter encoder"
    prefix = "openvino-build-"
    if thread_name.startswith(prefix):
        height, _, width = thread_name[len(prefix) :].partition("x")
        return f"detector {width}x{height}" if width else "detector"
    return thread_name


def _exit_past_unfinished_builds(status: int, *, loading: bool = False) -> int:
    """Everything is closed; a model build still converting in native code, or the models
    still loading (Ctrl-C while the pages say "Getting ready": the loader thread is in torch's
    native code), would abort the interpreter's shutdown (SIGABRT, "terminate called without
    an active exception"), so leave at once with our status instead."""
    from inference.graphs.background_builds import builds_running

    if not builds_running() and not loading:
        return status
    if loading:
        log.info("stopping while the models load")
    else:
        log.info("stopping while a model build runs: it starts again next time")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def listen_host(host: str | None, http: bool) -> str:
    """The address to listen on: the one given, else 127.0.0.1 for plain HTTP (the camera
    works on http:// only on this machine, so the LAN need not reach it) and every interface
    for HTTPS (phones come over the LAN)."""
    if host is not None:
        return host
    return "127.0.0.1" if http else "0.0.0.0"


def own_certificate_context(cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """A TLS context for the operator's certificate and key; ValueError saying what is wrong
    (one of the two missing, a file that is not there or not PEM, a key of another
    certificate)."""
    from stream.edge.tls import Certificate, server_ssl_context

    if cert is None or key is None:
        raise ValueError("--cert and --key go together: give both files")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for option, path in (("--cert", cert), ("--key", key)):
        if not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    try:
        x509.load_pem_x509_certificate(cert.read_bytes())
    except ValueError as exc:
        raise ValueError(f"--cert {cert} is not a PEM certificate") from exc
    try:
        serialization.load_pem_private_key(key.read_bytes(), password=None)
    except TypeError as exc:
        raise ValueError(f"--key {key} is encrypted: give a key without a passphrase") from exc
    except ValueError as exc:
        raise ValueError(f"--key {key} is not a PEM private key") from exc
    try:
        return server_ssl_context(Certificate(cert, key, created=False))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc).upper():
            raise ValueError(f"--key {key} is not the private key of --cert {cert}") from exc
        raise ValueError(f"--cert {cert} / --key {key} cannot be used: {exc}") from exc


def cli_command(
    argv0: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
    cwd: Path | None = None,
) -> str:
    """How to type this program here, for the hints it prints: `visionanything` when that name
    on the PATH is this very program, else its path (`make` installs it in .venv/bin, which is
    not on the PATH), relative to the working directory when it lies below it."""
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    here = cwd or Path.cwd()
    if script.name != "visionanything":  # `python -m visionanything`
        return f"{_shown_path(Path(sys.executable), here)} -m visionanything"
    found = which("visionanything")
    with contextlib.suppress(OSError):
        if found and Path(found).resolve() == (here / script).resolve():
            return "visionanything"
    return _shown_path(script, here)


def _shown_path(path: Path, cwd: Path) -> str:
    absolute = path if path.is_absolute() else cwd / path
    try:
        return shlex.quote(str(absolute.relative_to(cwd)))
    except ValueError:
        return shlex.quote(str(absolute))


def teacher_hint(config: ServerConfig, cli: str, makefile: Path = Path("Makefile")) -> str | None:
    """Rooms need a teacher account: how to make the first one (a command that works as typed
    here), or None when there is one. Raises TeacherFileError when the file is unreadable."""
    from stream.classroom.teachers import TeacherStore, default_teachers_path

    path = config.teachers_file or default_teachers_path()
    if TeacherStore(path).names():
        return None
    command = f"`{cli} teacher add NAME" + (f" --file {path}`" if config.teachers_file else "`")
    if config.teachers_file is None and _has_make_target(makefile, "teacher"):
        command = f"`make teacher NAME=lee` (or {command})"
    return f"No teacher accounts in {path} yet: {command} makes one (needed for classroom rooms)."


def _has_make_target(makefile: Path, target: str) -> bool:
    try:
        return any(line.startswith(f"{target}:") for line in makefile.read_text().splitlines())
    except (OSError, UnicodeDecodeError):
        return False


def _teacher_hint(config: ServerConfig, cli: str) -> None:
    from stream.classroom.teachers import TeacherFileError

    try:
        hint = teacher_hint(config, cli)
    except TeacherFileError as exc:
        log.error("teacher accounts cannot be read: %s", exc)
        return
    if hint:
        print(hint)


def _tls_context(cert_dir: Path, host: str) -> ssl.SSLContext:
    from stream.edge.tls import ensure_certificate, server_ssl_context
    from stream.edge.urls import certificate_hosts

    return server_ssl_context(ensure_certificate(cert_dir, certificate_hosts(host)))


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
        from inference.core.device import resolve_device
        from inference.live.engine import Engine
        from inference.live.engine_settings import EngineSettings
        from inference.live.prebuild import PHONE_FRAMES, detectors_to_warm

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


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGINT or SIGTERM sent to this process, not to one of its children, sets `stop`.

    asyncio hands signals to the loop through a wake-up socket that a forked child shares, so a
    child that a library forks and terminates (OpenVINO's telemetry sender did, during model
    conversion) stopped the server. Children forked from now on drop that socket and take back
    the default handlers (`inference.core.dependency_guards.isolate_forked_children`).
    """
    from inference.core.dependency_guards import isolate_forked_children

    isolate_forked_children()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)


async def _serve(
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    config: ServerConfig,
    factory: EngineFactory,
    redis_url: str | None = None,
    progress: LoadProgress | None = None,
) -> int:
    from aiohttp import web

    from stream.app import create_app
    from stream.edge.access_log import RUNNER_OPTIONS
    from stream.edge.urls import banner, server_urls

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
        from stream.classroom.redis_room_store import RedisRoomStore

        room_store = RedisRoomStore(
            redis_url,
            max_rooms=config.max_rooms,
            max_per_teacher=config.max_rooms_per_teacher,
            ttl_s=config.room_idle_s,
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
    urls = server_urls(host, bound_port, https=context is not None, lan=list(config.lan_hosts))
    print(
        banner(
            urls,
            context is not None,
            public_url=config.public_url,
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
