"""What `serve --if-missing` does when the real checkpoints are not there.

`make serve` on a fresh clone has no checkpoints. Before, it quietly served random weights and
the operator had to read the banner to learn why every name was made up. Now a person at a
terminal is asked once ("Fetch the real models now? about 730 MB [Y/n]"); yes runs the same
download as `visionanything weights fetch` (progress bars, resume, sha256) and the server
starts on the real models. Everything else (no, no answer, a download the network refuses,
no terminal at all: CI, systemd, a pipe) serves demo mode with one line that says why and how
to get the models later. Nothing is downloaded without a person saying yes, and nothing waits
for an answer that cannot come.

The decision is `choose_models`, with the terminal check, the question and the download
injected so that tests drive every branch without a terminal or a network.
"""

from __future__ import annotations

import contextlib
import io
import select
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

from inference.choices import DEFAULT_DETECTOR, DETECTOR_GROUPS
from inference.weights.checkpoints import CheckpointError, Manifest
from inference.weights.fetch import fetch, part_path
from visionanything.commands.weights import print_results

if TYPE_CHECKING:
    from pathlib import Path

IF_MISSING = ("stop", "ask", "demo")
"""stop: serve fails with the message naming the fetch command (the default: an operator who
asked for the real models gets them or an error); ask: offer to fetch on a terminal, else
demo; demo: serve random weights, saying so."""

ANSWER_TIMEOUT_S = 120.0
"""How long the question waits: a terminal nobody watches (a tmux pane, a forgotten ssh) must
still end up serving."""

Models = Literal["real", "random"]
Ask = Callable[[str], str | None]
"""question → the typed answer, None when none came (end of input, timeout)."""
Fetch = Callable[[Manifest, Sequence[str]], str | None]
"""Downloads the manifest's files of these groups; None on success, else why it failed (one
line)."""


@dataclass(frozen=True)
class MissingFiles:
    """The checkpoint files a real-weights server still needs.

    files:         their paths (absent, or of another size than the manifest pins)
    known_bytes:   bytes left to download among the files whose size the manifest gives
                   (what a `.part` of an interrupted download holds is already here)
    unknown_sizes: how many files have no size in the manifest
    """

    files: tuple[Path, ...]
    known_bytes: int
    unknown_sizes: int

    def size_words(self) -> str:
        """ "about 41 MB", "at least 41 MB" (some sizes unknown), or "" (none known)."""
        if self.known_bytes <= 0:
            return ""
        megabytes = max(1, round(self.known_bytes / 1_000_000))
        return f"{'at least' if self.unknown_sizes else 'about'} {megabytes} MB"


def needed_groups(manifest: Manifest, detector: str) -> list[str]:
    """The checkpoint groups a server with `--detector detector` loads: every group of the
    manifest except the other detectors' (nobody should download a detector they do not
    run)."""

    mine = DETECTOR_GROUPS.get(detector)
    others = {group for group in DETECTOR_GROUPS.values() if group != mine}
    return [group for group in manifest.groups() if group not in others]


def missing_files(manifest: Manifest, groups: Collection[str] | None = None) -> MissingFiles:
    """What is missing of `groups` (default all), from sizes alone: hashing ~730 MB on every
    start would cost seconds, and a file of the right size with the wrong bytes is still
    caught, with a message naming it, when the models load."""

    files: list[Path] = []
    known = unknown = 0
    for entry in manifest.entries:
        if groups is not None and entry.group not in groups:
            continue
        path = entry.path(manifest.weights_dir)
        try:
            size = path.stat().st_size if path.is_file() else None
        except OSError:
            size = None
        if size is not None and (entry.size is None or size == entry.size):
            continue
        files.append(path)
        if entry.size is None:
            unknown += 1
            continue
        try:
            partial = part_path(path).stat().st_size
        except OSError:
            partial = 0
        known += max(0, entry.size - partial)
    return MissingFiles(tuple(files), known, unknown)


def fetch_question(missing: MissingFiles) -> str:
    size = missing.size_words()
    return f"Fetch the real models now? {size + ' ' if size else ''}[Y/n] "


def says_yes(answer: str | None) -> bool:
    """Enter, "y" or "yes" (any case) is yes; anything else, and no answer at all, is no."""
    return answer is not None and answer.strip().lower() in ("", "y", "yes")


@dataclass(frozen=True)
class Choice:
    """The models to serve and the one line to print about it (None: nothing to say)."""

    models: Models
    message: str | None = None


def choose_models(
    if_missing: str,
    load_manifest: Callable[[], Manifest],
    *,
    is_terminal: Callable[[], bool],
    ask: Ask,
    fetch: Fetch,
    later: str,
    detector: str | None = None,
) -> Choice:
    """Real models when their files are all there; otherwise what `if_missing` says (see
    `IF_MISSING`). `later` is the command that fetches them, for the messages; `detector` the
    --detector served (default: the default one), whose checkpoint group is the one needed.

    Never raises for a manifest that cannot be read or a download that fails: the server then
    serves demo mode and the line says why (except with "stop", where loading the models
    reports it as before).
    """
    if if_missing not in IF_MISSING:
        raise ValueError(f"if_missing must be one of {', '.join(IF_MISSING)}; got {if_missing!r}")
    if if_missing == "stop":
        return Choice("real")
    demo = "serving in demo mode (made-up names)"
    try:
        manifest = load_manifest()
    except CheckpointError as exc:
        return Choice("random", f"The model list cannot be read ({exc}); {demo}.")

    groups = needed_groups(manifest, detector or DEFAULT_DETECTOR)
    missing = missing_files(manifest, groups)
    if not missing.files:
        return Choice("real")
    size = missing.size_words()
    what = f"The real models are not downloaded yet{f' ({size})' if size else ''}"
    if if_missing == "demo" or not is_terminal():
        return Choice("random", f"{what}: {demo}. To get them: {later}")
    answer = ask(fetch_question(missing))
    if answer is None:
        return Choice("random", f"No answer: {demo}. To get the real models: {later}")
    if not says_yes(answer):
        return Choice("random", f"OK, {demo}. To get the real models later: {later}")
    try:
        problem = fetch(manifest, groups)
    except Exception as exc:  # a download must never stop the server from starting
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        try:
            problem = _still_missing(load_manifest(), groups)
        except CheckpointError as exc:
            problem = str(exc)
    if problem is not None:
        return Choice(
            "random", f"Could not fetch the real models ({problem}); {demo}. Try later: {later}"
        )
    return Choice("real", "Got the real models: serving them.")


def _still_missing(manifest: Manifest, groups: Collection[str]) -> str | None:
    missing = missing_files(manifest, groups)
    if not missing.files:
        return None
    return f"still missing: {', '.join(path.name for path in missing.files[:3])}"


def ask_on_terminal(
    question: str,
    *,
    timeout_s: float = ANSWER_TIMEOUT_S,
    source: TextIO | None = None,
    out: TextIO | None = None,
) -> str | None:
    """Print `question` (on stderr, beside the download's progress bars) and read one line;
    None at end of input or after `timeout_s` without an answer."""
    source = source if source is not None else sys.stdin
    out = out if out is not None else sys.stderr
    out.write(question)
    out.flush()
    waiting = True
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        ready, _, _ = select.select([source], [], [], timeout_s)  # POSIX; elsewhere: no timeout
        waiting = bool(ready)
    if not waiting:
        out.write("\n")
        return None
    line = source.readline()
    return line.rstrip("\r\n") if line else None


def fetch_now(
    manifest: Manifest,
    groups: Sequence[str],
    *,
    progress: bool = True,
    timeout: float = 20.0,
    retries: int = 2,
    retry_delay: float = 1.0,
) -> str | None:
    """`visionanything weights fetch --only GROUPS`, smallest group first, stopping at the
    first group that fails: a network that refuses one file refuses the rest, and each
    file would spend its retries before giving up. Prints the per-file lines that command
    prints. None when every file is in place, else the first failure."""

    for group in _smallest_first(manifest, groups):
        results = fetch(
            manifest,
            [group],
            progress=progress,
            timeout=timeout,
            retries=retries,
            retry_delay=retry_delay,
        )
        print_results(results)
        failed = [result for result in results if result.outcome == "failed"]
        if failed:
            return failed[0].detail
    return None


def _smallest_first(manifest: Manifest, groups: Sequence[str]) -> list[str]:
    """Groups by their pinned size (unknown sizes last), so a broken network shows on the
    small file, in seconds."""

    def size(group: str) -> tuple[int, int]:
        sizes = [entry.size for entry in manifest.group(group)]
        return (1 if None in sizes else 0, sum(s or 0 for s in sizes))

    return sorted(groups, key=size)
