"""`visionanything loadtest`: many simulated phones against a running server.

    visionanything loadtest --clients 4 --duration 20                 # the built-in clip
    visionanything loadtest --video clip.mp4 --clients 2 --json out.json --plot out.png
    visionanything loadtest --viewers 30 --teacher lee                # a classroom: 1 + 30
    visionanything loadtest --churn 300 --clients 4                   # connect and vanish

Each client is an aiortc peer that streams the clip in a loop (frames marked with a counter)
and reads the returned video and the data channel. Progress goes to stderr once a second; the
table (p50 / p95 / max per metric, a line per client) to stdout at the end.

With `--viewers N` the phones join a room (the first presents) and N simulated projectors watch
it: the room is `--room CODE`, or one that `--teacher NAME` logs in to create for the run (and
ends afterwards); the password comes from $VISIONANYTHING_TEACHER_PASSWORD, else a prompt, and
never from the command line, where other users of the machine could read it.
With `--churn N` no clip is streamed: N phones connect and vanish in turn (closing cleanly,
dropping without a word, offering and never connecting; `--clients` at a time), then the
server's open sessions (/metrics) must go back to where they were (stream/loadtest/churn.py);
exit status 0 when every cycle worked and no session was left behind.

Exit status: 0 every client and viewer connected and saw no errors; 1 the server could not be
reached or was busy, the room or the teacher login was wrong, a client or viewer failed to
connect, saw an error message or was disconnected, or a viewer never saw the presenter; 2 bad
arguments or an unreadable video.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from stream.loadtest.churn import ChurnConfig, format_churn, run_churn
from stream.loadtest.report import format_table, write_json, write_plot
from stream.loadtest.runner import ClipError, LoadTestConfig, load_clip, run_loadtest
from visionanything.commands.options import frame_size

log = logging.getLogger("visionanything.loadtest")

PASSWORD_ENV = "VISIONANYTHING_TEACHER_PASSWORD"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "loadtest",
        help="stream a clip from N simulated phones and measure latency and frame rates",
        description="Run N concurrent WebRTC clients against a server, each streaming a clip "
        "in a loop as a phone would, and measure connection setup, returned fps, round-trip "
        "latency, overlay updates, time to new objects, dropped frames and errors.",
    )
    parser.add_argument(
        "--video",
        type=Path,
        default=None,
        help="video file to stream (any format PyAV reads; default: the built-in clip)",
    )
    parser.add_argument("--clients", type=int, default=1, help="phones at once (default 1)")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of streaming (default 20)"
    )
    parser.add_argument(
        "--url", default="http://127.0.0.1:8080", help="the server (default %(default)s)"
    )
    parser.add_argument(
        "--fps", type=float, default=None, help="frames per second sent (default: the clip's)"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write JSON here")
    parser.add_argument(
        "--plot", type=Path, default=None, metavar="OUT.png", help="write a PNG plot here"
    )
    parser.add_argument(
        "--size",
        type=frame_size,
        default=(640, 480),
        help="WIDTHxHEIGHT of the built-in clip (default 640x480; ignored with --video)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=15.0,
        help="seconds for a client to connect (default 15)",
    )
    parser.add_argument(
        "--wait-ready",
        type=float,
        default=0.0,
        help="wait up to this many seconds for the server's /readyz (default: do not wait)",
    )
    parser.add_argument(
        "--tap",
        action="store_true",
        help="tap the middle of the picture on connecting and after every cut, so the server "
        "segments something even when its detector finds nothing (random weights)",
    )
    parser.add_argument(
        "--viewers",
        type=int,
        default=0,
        help="projectors watching the phones' room (0..64, default 0); needs --room or --teacher",
    )
    parser.add_argument(
        "--room", default=None, metavar="CODE", help="the phones (and viewers) join this room"
    )
    parser.add_argument(
        "--screen-key",
        default=None,
        metavar="KEY",
        help="with --room and --viewers: the key of the teacher's class screen link (the part "
        "after #key=); the server refuses screens without it",
    )
    parser.add_argument(
        "--teacher",
        default=None,
        metavar="NAME",
        help=f"log in as this teacher and create a room for the run (password: ${PASSWORD_ENV}, "
        "else asked for)",
    )
    parser.add_argument(
        "--churn",
        type=int,
        default=None,
        metavar="N",
        help="instead of streaming: connect and vanish N times (1..1000; closing, dropping, never "
        "connecting, in turn; --clients at a time, at most 16) and check that the server's open "
        "sessions go back",
    )
    parser.add_argument(
        "--loss",
        type=float,
        default=0.0,
        metavar="PCT",
        help="drop this share (0..50 %%) of each phone's outgoing video packets, retransmissions "
        "too, to rehearse bad Wi-Fi; the report gives each phone's longest freeze",
    )
    parser.add_argument(
        "--relay",
        action="store_true",
        help="go through the server's TURN relay, relay-only, with the TURN servers and fresh "
        "credentials of its GET /api/ice (as a phone page told 'relay' does), to compare "
        "relayed with direct",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.churn is not None:
        return _churn(args)
    # imported here: other commands should not pay for aiortc

    try:
        config = LoadTestConfig(
            url=args.url,
            clients=args.clients,
            duration_s=args.duration,
            fps=args.fps,
            connect_timeout_s=args.connect_timeout,
            wait_ready_s=args.wait_ready,
            tap=args.tap,
            viewers=args.viewers,
            room=args.room,
            teacher=args.teacher,
            teacher_password="" if args.teacher is not None else None,  # asked for below
            screen_key=args.screen_key,
            loss_percent=args.loss,
            relay=args.relay,
        )
        if args.video is not None and not args.video.is_file():
            raise ValueError(f"no video file at {args.video}")
        for out in (args.json, args.plot):
            if out is not None and not out.parent.is_dir():
                raise ValueError(f"cannot write {out}: the folder {out.parent} does not exist")
        if config.teacher is not None:  # only once every other argument is known to be right
            config = dataclasses.replace(config, teacher_password=_password(config.teacher))
    except (ValueError, EOFError) as exc:
        log.error("%s", str(exc) or "no teacher password given")
        return EXIT_USAGE
    logging.getLogger("aioice").setLevel(logging.WARNING)  # one line per candidate otherwise
    logging.getLogger("aiortc").setLevel(logging.WARNING)

    progress = None if args.quiet else sys.stderr
    try:
        result = asyncio.run(
            run_loadtest(
                config, lambda: load_clip(args.video, args.fps, size=args.size), progress=progress
            )
        )
    except ClipError as exc:
        log.error("cannot use the video: %s", exc)
        return EXIT_USAGE
    print(format_table(result), flush=True)
    if result.failure is not None:
        log.error("load test failed: %s", result.failure)
    try:
        if args.json is not None:
            write_json(result, args.json)
            log.info("wrote %s", args.json)
        if args.plot is not None:
            write_plot(result, args.plot)
            log.info("wrote %s", args.plot)
    except (OSError, RuntimeError) as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    status: int = result.exit_status
    return status


def _churn(args: argparse.Namespace) -> int:
    import json

    try:
        config = ChurnConfig(
            url=args.url,
            cycles=args.churn,
            concurrency=args.clients,
            cycle_timeout_s=args.connect_timeout,
        )
        if args.json is not None and not args.json.parent.is_dir():
            raise ValueError(f"cannot write {args.json}: the folder {args.json.parent} is missing")
    except ValueError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    result = asyncio.run(run_churn(config, progress=None if args.quiet else sys.stderr))
    print(format_churn(result), flush=True)
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
        except OSError as exc:
            log.error("%s", exc)
            return EXIT_FAILED
    return EXIT_OK if result.ok else EXIT_FAILED


def _password(teacher: str) -> str:
    """The teacher's password: $VISIONANYTHING_TEACHER_PASSWORD, else a prompt. Asked before
    the run starts, so no prompt ever waits inside the event loop."""
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    return getpass.getpass(f"password for teacher {teacher!r}: ")
