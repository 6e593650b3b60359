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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
