"""`visionanything` command line: one module per subcommand in visionanything/commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import inference  # noqa: F401  first: switches our dependencies' telemetry off before they load
from visionanything.commands import (
    bench,
    bench_workers,
    cache,
    clip,
    eval,
    loadtest,
    segment,
    serve,
    teacher,
    weights,
    worker,
)

COMMANDS = (
    bench,
    bench_workers,
    cache,
    clip,
    eval,
    loadtest,
    segment,
    serve,
    teacher,
    weights,
    worker,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionanything",
        description="VisionAnything Live: find, segment and name objects for children.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


QUIET_LOGGERS = ("aiohttp.access", "aioice", "aiortc")
"""Loggers kept at WARNING even with --verbose: aiohttp's access log writes client addresses,
URLs with room codes and User-Agents; aioice and aiortc write ICE candidate pairs (addresses)
at INFO. `stream.edge.access_log` writes our own, address-free access log instead."""


class _NoPeerAddress(logging.Filter):
    """aiohttp's server logger says "Error handling request from <address>" at ERROR (a
    malformed request, a handler's crash): keep the message and the traceback, drop the
    address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Error handling request from"):
            record.msg, record.args = "Error handling request", ()
        return True


def quiet_address_loggers() -> None:
    """Keep client addresses out of the log at INFO and above (see `QUIET_LOGGERS`)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _NoPeerAddress) for f in server.filters):
        server.addFilter(_NoPeerAddress())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quiet_address_loggers()
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
