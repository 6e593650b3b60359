"""`visionanything cache list|clear`: the exported model graphs on disk (OpenVINO and ONNX
graphs of the MobileSAM encoder and the Grounding DINO image side).

    visionanything cache list                   # each graph, least recently used first
    visionanything cache clear                  # delete them all (rebuilt when next needed)
    visionanything cache clear --older-than 30  # only those unused for 30 days

The cache is `$VISIONANYTHING_CACHE_DIR` (else ~/.cache/visionanything) and keeps itself under
`$VISIONANYTHING_CACHE_MAX_MB` (2048 MB) by evicting the least recently used graphs after each
export (`inference.graphs.cache`). Exit status: 0 done, 1 something could not be read or deleted
(each said in one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from inference.core.directories import default_cache_dir
from inference.graphs import cache as graph_cache

EXIT_OK, EXIT_FAILED = 0, 1
_DAY_S = 24 * 3600


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cache", help="list or clear the exported model graphs on disk"
    )
    actions = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list", help="each exported graph (least recently used first) and the total vs the bound"
    )
    _add_cache_dir(listing)
    listing.set_defaults(run=run_list)

    clearing = actions.add_parser(
        "clear", help="delete the exported graphs (each is exported again when next needed)"
    )
    clearing.add_argument(
        "--older-than",
        type=_days,
        metavar="DAYS",
        help="only graphs not used for more than DAYS days",
    )
    _add_cache_dir(clearing)
    clearing.set_defaults(run=run_clear)


def _add_cache_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="the cache (default: $VISIONANYTHING_CACHE_DIR, else ~/.cache/visionanything)",
    )


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of days ≥ 0, got {text!r}")
    return days


def _root(args: argparse.Namespace) -> Path:
    root: Path = args.cache_dir if args.cache_dir is not None else default_cache_dir()
    return root


def _mb(size_bytes: int) -> str:
    return f"{size_bytes / graph_cache.MB:.1f} MB"


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _warn(problems: list[str]) -> None:
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)


def run_list(args: argparse.Namespace) -> int:
    root = _root(args)
    found = graph_cache.scan(root)
    _warn(found.problems)
    entries = sorted(found.entries, key=lambda entry: entry.last_used)
    if entries:
        width = max(len("KIND"), *(len(entry.kind) for entry in entries))
        print(f"{'KIND':<{width}}  {'SIZE':>10}  {'LAST USED':<16}  PATH")
        for entry in entries:
            print(
                f"{entry.kind:<{width}}  {_mb(entry.size_bytes):>10}  "
                f"{_when(entry.last_used):<16}  {entry.path}"
            )
    else:
        print(f"no exported graphs in {root}")
    bound = graph_cache.max_bytes_from_env()
    print(
        f"total {_mb(found.total_bytes)} in {len(entries)} graph(s) of at most {_mb(bound)} "
        f"(${graph_cache.MAX_ENV}); least recently used are evicted past it"
    )
    return EXIT_FAILED if found.problems else EXIT_OK


def run_clear(args: argparse.Namespace) -> int:
    root = _root(args)
    older_than_s = None if args.older_than is None else args.older_than * _DAY_S
    result = graph_cache.clear(root, older_than_s=older_than_s)
    _warn(result.problems)
    for entry, reason in result.failed:
        print(f"could not delete {entry.path}: {reason}", file=sys.stderr)
    which = "" if args.older_than is None else f" unused for over {args.older_than:g} days"
    print(
        f"deleted {len(result.removed)} graph(s){which} from {root}, "
        f"freed {_mb(result.freed_bytes)}"
        + (f"; {len(result.failed)} could not be deleted" if result.failed else "")
    )
    return EXIT_FAILED if result.failed or result.problems else EXIT_OK
