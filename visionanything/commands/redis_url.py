"""Where `serve` and `worker` get the Redis URL: never from a command line that carries a
password.

A URL on the command line is visible to every user of the machine (`ps`, /proc/PID/cmdline)
and lands in shell history and process listings of container runtimes. So the URL, with its
password (`redis://:PASSWORD@host:6379/0`) or TLS (`rediss://`), comes from

    $VISIONANYTHING_REDIS_URL            (compose passes it from its env file), or
    --redis-url-file PATH                (a file holding the URL, e.g. a Docker secret);

`--redis URL` stays for a password-free Redis (a developer's on loopback) and is refused,
saying how to give it instead, when it carries credentials. The URL is never logged:
`describe` gives what the logs may say (scheme, host, port, database).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

ENV = "VISIONANYTHING_REDIS_URL"
SCHEMES = ("redis", "rediss", "unix")


def add_redis_options(parser: argparse.ArgumentParser, use: str) -> None:
    """`--redis URL` (no password) and `--redis-url-file PATH`; `use` ends their help."""
    parser.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help=f"a Redis without a password (redis://127.0.0.1:6379/0): {use}. A URL with a "
        f"password goes in ${ENV} or --redis-url-file, never on the command line",
    )
    parser.add_argument(
        "--redis-url-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"a file holding the Redis URL (password, rediss:// for TLS); or set ${ENV}",
    )


def redis_url(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str | None:
    """The Redis URL to use, None for none; ValueError saying what is wrong (never quoting a
    password)."""
    environ = os.environ if environ is None else environ
    given = [
        name
        for name, value in (
            ("--redis", args.redis),
            ("--redis-url-file", args.redis_url_file),
            (f"${ENV}", environ.get(ENV, "").strip()),
        )
        if value
    ]
    if len(given) > 1:
        raise ValueError(f"give the Redis URL one way, not {' and '.join(given)}")
    if args.redis:
        url = str(args.redis).strip()
        if _has_credentials(url):
            raise ValueError(
                f"--redis: a URL with a password would be visible to every user (ps) and in "
                f"shell history; put it in ${ENV} or in a file named by --redis-url-file"
            )
        source = "--redis"
    elif args.redis_url_file is not None:
        try:
            url = Path(args.redis_url_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--redis-url-file {args.redis_url_file}: cannot read it") from exc
        source = f"--redis-url-file {args.redis_url_file}"
    elif environ.get(ENV, "").strip():
        url, source = environ[ENV].strip(), f"${ENV}"
    else:
        return None
    if urlsplit(url).scheme not in SCHEMES:
        raise ValueError(f"{source}: not a Redis URL ({', '.join(s + '://' for s in SCHEMES)})")
    return url


def _has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.password or parts.username) or "password=" in parts.query


def describe(url: str) -> str:
    """What the logs may say of `url`: scheme, host, port and database, no credentials."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or ""
    masked = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{masked}{host}{port}{parts.path}"
