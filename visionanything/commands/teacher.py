"""`visionanything teacher add|list|remove|passwd`: manage the teacher accounts file.

    visionanything teacher add alice --admin        # asks for the password twice
    printf '%s\\n' "$PW" | visionanything teacher add bob --password-stdin
    visionanything teacher list --file /srv/va/teachers.json

The file defaults to $VISIONANYTHING_DATA_DIR/teachers.json (else
~/.local/share/visionanything/teachers.json). A running server reads it afresh on each login, so
changes need no restart. Exit status: 0 done, 1 refused (bad name or password, unknown teacher,
unreadable file).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.classroom.teachers import (
    TeacherFileError,
    TeacherStore,
    UnknownTeacherError,
    check_name,
    default_teachers_path,
)

EXIT_OK, EXIT_FAILED = 0, 1


class PasswordEntryError(Exception):
    """The password could not be read, or the two typed copies differ."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "teacher", help="add, list or remove teacher accounts, or change a password"
    )
    actions = parser.add_subparsers(dest="teacher_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="add a teacher (asks for the password twice)")
    add.add_argument("name", metavar="NAME", help="1-32 letters, digits, '-' or '_'")
    add.add_argument("--admin", action="store_true", help="may manage other teachers")
    _add_common(add, password=True)
    add.set_defaults(run=run_add)

    listing = actions.add_parser("list", help="list teachers")
    _add_common(listing, password=False)
    listing.set_defaults(run=run_list)

    remove = actions.add_parser("remove", help="remove a teacher")
    remove.add_argument("name", metavar="NAME")
    _add_common(remove, password=False)
    remove.set_defaults(run=run_remove)

    passwd = actions.add_parser("passwd", help="set a teacher's password")
    passwd.add_argument("name", metavar="NAME")
    _add_common(passwd, password=True)
    passwd.set_defaults(run=run_passwd)


def _add_common(parser: argparse.ArgumentParser, *, password: bool) -> None:
    parser.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="teachers file (default: $VISIONANYTHING_DATA_DIR/teachers.json or "
        "~/.local/share/visionanything/teachers.json)",
    )
    if password:
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin instead of prompting",
        )


def run_add(args: argparse.Namespace) -> int:
    def add(store: TeacherStore) -> str:
        check_name(args.name)  # refuse before asking for a password, not after
        if store.get(args.name) is not None:
            raise ValueError(f"teacher {args.name!r} already exists in {store.path}")
        store.add(args.name, _read_password(args, args.name), admin=args.admin)
        role = "admin teacher" if args.admin else "teacher"
        return f"added {role} {args.name!r} to {store.path}"

    return _run(args, add)


def run_list(args: argparse.Namespace) -> int:
    def listing(store: TeacherStore) -> str:
        teachers = store.teachers()
        for teacher in teachers:
            print(f"{teacher.name}\t{'admin' if teacher.admin else '-'}\t{teacher.created}")
        return f"{len(teachers)} teacher(s) in {store.path}"

    return _run(args, listing)


def run_remove(args: argparse.Namespace) -> int:
    def remove(store: TeacherStore) -> str:
        store.remove(args.name)
        return f"removed teacher {args.name!r} from {store.path}"

    return _run(args, remove)


def run_passwd(args: argparse.Namespace) -> int:
    def passwd(store: TeacherStore) -> str:
        if store.get(args.name) is None:  # refuse before asking for a password, not after
            raise UnknownTeacherError(f"no teacher named {args.name!r} in {store.path}")
        store.set_password(args.name, _read_password(args, args.name))
        return f"changed the password of {args.name!r} in {store.path}"

    return _run(args, passwd)


def _run(args: argparse.Namespace, action: Callable[[TeacherStore], str]) -> int:
    """Run `action(store)`; print its summary, or any refusal, on stderr."""
    store = TeacherStore(args.file or default_teachers_path())
    try:
        message = action(store)
    except (ValueError, LookupError, TeacherFileError, PasswordEntryError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(message, file=sys.stderr)
    return EXIT_OK


def _read_password(args: argparse.Namespace, name: str) -> str:
    """From stdin's first line with --password-stdin, else typed twice at a hidden prompt."""
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PasswordEntryError("no password on stdin")
        return line.rstrip("\r\n")
    try:
        first = getpass.getpass(f"password for {name}: ")
        second = getpass.getpass(f"password for {name} (again): ")
    except (EOFError, KeyboardInterrupt):
        raise PasswordEntryError("password entry cancelled") from None
    if first != second:
        raise PasswordEntryError("the two passwords differ; nothing changed")
    return first
