"""`serve`'s options by feature: the photo library, classroom rooms, STUN/TURN (secrets from a file
or the environment, never argv) and the returned video. Each group has its `add_*` and the
function that applies it to the `ServerConfig`; `config_from_args` builds the whole config.

Every default here is read from the config's dataclasses (`stream.app.ServerConfig` and its
groups), never typed a second time."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stream.app import ServerConfig
from stream.classroom.classroom_settings import ClassroomSettings
from stream.edge.limits import ServerLimits
from stream.edge.network import NetworkSettings
from stream.photos.snapshots import SnapshotPolicy
from stream.webrtc.ice import IceSettings
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.video_codecs import VIDEO_CODECS, VideoSettings


def config_from_args(args: argparse.Namespace, lan_hosts: tuple[str, ...] = ()) -> ServerConfig:
    """The server's settings that `serve`'s options describe (--models already settled by
    `pick_models`); `lan_hosts` are this machine's addresses phones can use. ValueError for a
    value out of range or an inconsistent set (a bad --public-url, --trusted-proxy, TURN
    credentials)."""
    config = ServerConfig(
        session=SessionSettings(
            idle_timeout_s=args.idle_timeout,
            output_height=args.output_height,
            follow_masks=args.follow_masks,
        ),
        web_dir=args.web_dir,
        random_weights=args.models == "random",
        limits=ServerLimits(
            max_sessions=args.max_sessions,
            max_viewers=args.max_viewers,
            offers_per_minute=args.offers_per_minute,
            sessions_per_address=args.sessions_per_address,
            viewers_per_address=args.screens_per_address,
        ),
        network=NetworkSettings(
            public_url=args.public_url,  # checked here: a bad one stops with exit status 2
            lan_hosts=lan_hosts,
            trusted_proxies=tuple(args.trusted_proxy),
        ),
        ice=ice_from_args(args),
        classroom=ClassroomSettings(
            teachers_file=args.teachers_file,
            secure_cookies=not args.http,  # the login cookie travels over HTTPS only
        ),
    )
    config = with_photo_options(config, args)
    config = with_room_options(config, args)
    return with_video_options(config, args)


# -- the photo library's options (stream/photos/library_settings.py) ------------------------------


def add_photo_options(parser: argparse.ArgumentParser) -> None:
    """How long the 📸 library keeps a class's photos (a school's data-protection rule)."""
    parser.add_argument(
        "--photo-retention-days",
        type=int,
        default=SnapshotPolicy.retention_days,
        metavar="DAYS",
        help="delete library photos older than this, checked every hour "
        "(1..3650, default %(default)g)",
    )


def with_photo_options(config: ServerConfig, args: argparse.Namespace) -> ServerConfig:
    """`config` with the photo options applied; ValueError for a value out of range."""
    library = config.photo_library
    policy = dataclasses.replace(library.policy, retention_days=args.photo_retention_days)
    return dataclasses.replace(config, photo_library=dataclasses.replace(library, policy=policy))


# -- classroom rooms' options (stream/classroom/classroom_settings.py) ----------------------------


def add_room_options(parser: argparse.ArgumentParser) -> None:
    """How many rooms one teacher may hold, and when a room nobody uses ends."""
    parser.add_argument(
        "--max-rooms-per-teacher",
        type=int,
        default=ClassroomSettings.max_rooms_per_teacher,
        metavar="N",
        help="open rooms one teacher may have at once (default %(default)s)",
    )
    parser.add_argument(
        "--room-idle-minutes",
        type=float,
        default=ClassroomSettings.room_idle_s / 60,
        metavar="MINUTES",
        help="a room with no teacher, phone or class screen for this long ends "
        "(default %(default)g)",
    )


def with_room_options(config: ServerConfig, args: argparse.Namespace) -> ServerConfig:
    """`config` with the room options applied; ValueError for a value out of range."""
    if args.max_rooms_per_teacher < 1:
        raise ValueError(f"--max-rooms-per-teacher {args.max_rooms_per_teacher} must be 1 or more")
    if not 1 <= args.room_idle_minutes <= 7 * 24 * 60:
        raise ValueError(f"--room-idle-minutes {args.room_idle_minutes} must lie in 1..10080")
    classroom = dataclasses.replace(
        config.classroom,
        max_rooms_per_teacher=args.max_rooms_per_teacher,
        room_idle_s=args.room_idle_minutes * 60,
    )
    return dataclasses.replace(config, classroom=classroom)


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
        default=list(IceSettings.urls),
        metavar="URL",
        help="a STUN or TURN server (repeatable): stun:HOST[:PORT], turn:HOST[:PORT]"
        "[?transport=udp|tcp], turns:HOST[:PORT]; default none (phones on the server's LAN)",
    )
    parser.add_argument(
        "--turn-username", default=IceSettings.username, help="static TURN username"
    )
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
        default=IceSettings.relay_only,
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
        default=VideoSettings.codec,
        help="auto: H.264 where the phone offers it (the page puts it first), else VP8; "
        "h264 / vp8: only that codec, phones without it are refused (default %(default)s)",
    )
    parser.add_argument(
        "--video-bitrate",
        type=int,
        default=VideoSettings.start_kbps,
        metavar="KBPS",
        help="the returned video's starting bitrate; the phone's bandwidth estimate moves it "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--max-video-bitrate",
        type=int,
        default=VideoSettings.max_kbps,
        metavar="KBPS",
        help="the most the returned video may use per phone (default %(default)s; aiortc "
        "itself caps VP8 at 1500, H.264 at 3000)",
    )


def with_video_options(config: ServerConfig, args: argparse.Namespace) -> ServerConfig:
    """`config` with the video options applied; ValueError for a value out of range."""

    video = VideoSettings(
        codec=args.video_codec, start_kbps=args.video_bitrate, max_kbps=args.max_video_bitrate
    )
    return dataclasses.replace(config, session=dataclasses.replace(config.session, video=video))


# -- end of the video options --------------------------------------------------------------------
