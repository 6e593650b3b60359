"""`visionanything weights fetch|verify|pin|prebuild`: download the model checkpoints, check
them, write the hashes recorded at first fetch into the manifest, or build the fast runtimes'
graphs ahead of the first `serve`.

Exit status: 0 all files good (every graph built), 1 some file failed / is missing / is
corrupt (some graph failed), 2 the manifest (or a requested group, or an option) is unusable.

`prebuild` is a command of its own rather than a `fetch --prebuild` flag: it takes the model
options `serve` takes (`add_model_options`: sizes, runtimes, device, `--models random`), which
must match serve's for the graphs to be found again, and whose `--manifest` would clash with
fetch's; and it is useful without a fetch (random weights, a new OpenVINO, a deploy image).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.core.device import DeviceError, resolve_device
from inference.live.prebuild import plan_graphs, prebuild
from inference.weights.checkpoints import (
    FETCH_COMMAND,
    CheckpointError,
    FileState,
    Manifest,
    check_all,
)
from inference.weights.fetch import FetchResult, fetch
from inference.weights.pinning import plan_pins, write_pins
from visionanything.commands import options
from visionanything.commands.options import SERVE_DETECTOR_SIZE, add_model_options

EXIT_OK = 0
EXIT_FILE_PROBLEM = 1
EXIT_BAD_MANIFEST = 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "weights", help="fetch or verify model checkpoints"
    )
    actions = parser.add_subparsers(dest="weights_command", required=True, metavar="ACTION")

    fetch_parser = actions.add_parser(
        "fetch", help="download the checkpoints the manifest lists (resumable, sha256-checked)"
    )
    fetch_parser.add_argument(
        "--only",
        metavar="GROUP",
        nargs="+",
        action="extend",
        help="fetch only these model groups (e.g. mobile_sam grounding_dino)",
    )
    _add_location_arguments(fetch_parser)
    fetch_parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars on stderr"
    )
    fetch_parser.set_defaults(run=run_fetch)

    verify_parser = actions.add_parser(
        "verify", help="check every checkpoint file against the manifest's size and sha256"
    )
    _add_location_arguments(verify_parser)
    verify_parser.set_defaults(run=run_verify)

    pin_parser = actions.add_parser(
        "pin",
        help="write the sha256 recorded at first fetch (and missing sizes) into the manifest, "
        "so every file is pinned; all files must be fetched and verify first",
    )
    _add_location_arguments(pin_parser)
    pin_parser.add_argument(
        "--dry-run", action="store_true", help="show what would be pinned; write nothing"
    )
    pin_parser.set_defaults(run=run_pin)

    prebuild_parser = actions.add_parser(
        "prebuild",
        help="build the fast runtimes' graphs (segmenter encoder, detector for a phone's "
        "landscape and portrait frames) now, so the first `serve` uses them at once",
        description="Build what `serve` would build in the background on its first run and "
        "keep it in the graph cache ($VISIONANYTHING_CACHE_DIR). Give the model options you "
        "give serve (sizes, runtimes, --models): the graphs are found again only for the same "
        "models, sizes and runtimes.",
    )
    add_model_options(
        prebuild_parser,
        detector_size=SERVE_DETECTOR_SIZE,
        random_use="a later serve --models random",
    )
    prebuild_parser.set_defaults(run=run_prebuild)


def _add_location_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="PATH",
        help="checkpoint manifest (default: weights/manifest.json, or $VISIONANYTHING_WEIGHTS)",
    )
    parser.add_argument(
        "--weights-dir",
        type=Path,
        metavar="DIR",
        help="directory the checkpoint files live in (default: beside the manifest)",
    )


def run_fetch(args: argparse.Namespace) -> int:
    try:
        manifest = Manifest.load(args.manifest, args.weights_dir)
        results = fetch(manifest, args.only, progress=not args.no_progress)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    print_results(results)
    failed = sum(result.outcome == "failed" for result in results)
    if failed:
        print(f"{failed} of {len(results)} file(s) failed", file=sys.stderr)
        return EXIT_FILE_PROBLEM
    return EXIT_OK


def print_results(results: Sequence[FetchResult]) -> None:
    """One line per file: outcome, path, detail (also what `serve --if-missing ask` prints
    after the download it offered)."""
    for result in results:
        print(f"{result.outcome:<10} {result.path}  {result.detail}")


def run_prebuild(args: argparse.Namespace) -> int:
    """Build the models as `serve` does (`models_from_args`, eager runtime first), then each
    graph serve would build in the background (`inference.live.prebuild`), printing progress."""
    import time

    def say(line: str) -> None:
        print(line, flush=True)

    started = time.perf_counter()
    try:
        device = resolve_device(args.device)
        say(f"loading the {args.models} models on {device} …")
        models = options.models_from_args(args, device, runtime="torch")  # what serve starts on
        plan = plan_graphs(models, args.runtime)
    except CheckpointError as exc:  # a missing file: the message names the fetch command
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FILE_PROBLEM
    except (ValueError, DeviceError) as exc:  # a runtime or device this machine lacks
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    results = prebuild(plan, say)
    failed = sum(result.outcome == "failed" for result in results)
    built = sum(result.outcome == "built" for result in results)
    say(
        f"{len(results)} graph(s): {built} built, {len(results) - built - failed} already "
        f"cached, {failed} failed, in {time.perf_counter() - started:.0f} s"
    )
    return EXIT_FILE_PROBLEM if failed else EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    try:
        manifest = Manifest.load(args.manifest, args.weights_dir)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    problems = 0
    for status in check_all(manifest):
        line = f"{status.state.value:<8} {status.path}  {status.detail}"
        if status.state in (FileState.MISSING, FileState.CORRUPT):
            problems += 1
            line += f"  (run `{_fetch_hint(args, status.entry.group)}`)"
        print(line)
    return EXIT_FILE_PROBLEM if problems else EXIT_OK


def _fetch_hint(args: argparse.Namespace, group: str) -> str:
    """The fetch command that repairs `group`, repeating the verify command's locations."""
    words = [*shlex.split(FETCH_COMMAND), "--only", group]
    if args.manifest is not None:
        words += ["--manifest", str(args.manifest)]
    if args.weights_dir is not None:
        words += ["--weights-dir", str(args.weights_dir)]
    return shlex.join(words)


def run_pin(args: argparse.Namespace) -> int:
    try:
        manifest = Manifest.load(args.manifest, args.weights_dir)
        plan = plan_pins(manifest)
        if plan.problems:
            for problem in plan.problems:
                print(f"cannot pin {problem}", file=sys.stderr)
            print("the manifest was left unchanged", file=sys.stderr)
            return EXIT_FILE_PROBLEM
        if not plan.changes:
            print(f"{manifest.path} already pins the sha256 and size of every file")
            return EXIT_OK
        for change in plan.changes:
            pinned = [f"sha256 {change.sha256}"] if change.sha256 else []
            pinned += [f"size {change.size}"] if change.size is not None else []
            verb = "would pin" if args.dry_run else "pinned"
            print(f"{verb:<10} {change.file}  {', '.join(pinned)}")
        if not args.dry_run:
            print(f"wrote {write_pins(manifest, plan.changes)}")
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    return EXIT_OK
