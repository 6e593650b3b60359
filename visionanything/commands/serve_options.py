"""`serve`'s options by feature: the photo library, classroom rooms, STUN/TURN (secrets from a file
or the environment, never argv) and the returned video. Each group has its `add_*` and the
function that applies it to the `ServerConfig`."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream.classroom.room_store import DEFAULT_IDLE_S, DEFAULT_ROOMS_PER_TEACHER
from stream.photos.snapshots import DEFAULT_RETENTION_DAYS
from stream.webrtc.ice import IceSettings
from stream.webrtc.video_codecs import (
    DEFAULT_MAX_KBPS,
    DEFAULT_START_KBPS,
    DEFAULT_VIDEO_CODEC,
    VIDEO_CODECS,
    VideoSettings,
)

if TYPE_CHECKING:
    from stream.app import ServerConfig
    from stream.webrtc.ice import IceSettings


# -- the photo library's options (stream/photos/snapshots.py) -------------------------------------


def add_photo_options(parser: argparse.ArgumentParser) -> None:
    """How long the 📸 library keeps a class's photos (a school's data-protection rule)."""
    parser.add_argument(
        "--photo-retention-days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        metavar="DAYS",
        help="delete library photos older than this, checked every hour "
        f"(1..3650, default {DEFAULT_RETENTION_DAYS})",
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

    video = VideoSettings(
        codec=args.video_codec, start_kbps=args.video_bitrate, max_kbps=args.max_video_bitrate
    )
    return dataclasses.replace(config, session=dataclasses.replace(config.session, video=video))


# -- end of the video options --------------------------------------------------------------------
