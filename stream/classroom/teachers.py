"""Teacher accounts: a small JSON file of names and argon2 password hashes.

The file is the single source of truth: the `visionanything teacher` command edits it while a
server runs, and a teacher added, removed or given a new password there takes effect at once
without a restart. Every read checks the file's identity (inode, mtime, size: one `stat`) and
parses it again only when that changed, so checking a login on every request stays cheap.

    {"alice": {"hash": "$argon2id$...", "admin": true, "created": "2025-01-01T09:00:00+00:00",
               "version": 2}}

`version` (absent: 0) is the teacher's credential version: a new password raises it, and the
login sessions opened under an older version end (`stream.classroom.teacher_auth`), on every server
that reads this file.

Writes go to a temporary file that replaces the old one (`os.replace`), so a reader never sees a
half-written file, and the file is created mode 0600 because it holds password hashes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from inference.core.atomic_write import write_atomically
from inference.core.directories import default_data_dir

log = logging.getLogger("stream.classroom.teachers")

FILE_NAME = "teachers.json"
MIN_PASSWORD_CHARS = 8
NAME_RULE = "1-32 characters: letters, digits, '-' or '_'"
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


class TeacherFileError(Exception):
    """The teachers file exists but cannot be read or understood; the message names the path."""


class UnknownTeacherError(LookupError):
    """No teacher of that name."""


@dataclass(frozen=True)
class Teacher:
    name: str
    admin: bool
    created: str


def default_teachers_path() -> Path:
    """`$VISIONANYTHING_DATA_DIR/teachers.json`, else `~/.local/share/visionanything/...`."""
    return default_data_dir() / FILE_NAME


def check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"bad teacher name {name!r}: use {NAME_RULE}")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password too short: use at least {MIN_PASSWORD_CHARS} characters")


def _teacher(name: str, record: dict[str, Any]) -> Teacher:
    return Teacher(name=name, admin=record["admin"], created=record["created"])


class TeacherStore:
    """Teacher accounts in the JSON file at `path` (a missing file means no teachers yet).

    `hasher` exists so tests can use cheap argon2 parameters; the default is argon2-cffi's
    recommended profile. When the parameters change, `verify` upgrades a teacher's stored hash
    on their next successful login.
    """

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self._hasher = hasher or PasswordHasher()
        # serialises read-modify-write within one process (verify runs in worker threads)
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None
        self._dummy_hash: str | None = None

    def add(self, name: str, password: str, admin: bool = False) -> None:
        check_name(name)
        check_password(password)
        digest = self._hasher.hash(password)
        with self._lock:
            records = self._load(fresh=True)
            if name in records:
                raise ValueError(f"teacher {name!r} already exists in {self.path}")
            created = datetime.now(UTC).isoformat(timespec="seconds")
            # a random first version: a login kept from an earlier account of the same name
            # (removed, then added again) does not match the new one
            version = secrets.randbelow(2**31)
            records[name] = {"hash": digest, "admin": admin, "created": created, "version": version}
            self._save(records)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        digest = self._hasher.hash(password)
        with self._lock:
            records = self._load(fresh=True)
            record = self._record(records, name)
            record["hash"] = digest
            record["version"] = record.get("version", 0) + 1  # older logins end
            self._save(records)

    def remove(self, name: str) -> None:
        with self._lock:
            records = self._load(fresh=True)
            self._record(records, name)
            del records[name]
            self._save(records)

    def names(self) -> list[str]:
        return sorted(self._load())

    def teachers(self) -> list[Teacher]:
        """Every teacher, by name."""
        return [_teacher(name, record) for name, record in sorted(self._load().items())]

    def get(self, name: str) -> Teacher | None:
        record = self._load().get(name)
        if record is None:
            return None
        return _teacher(name, record)

    def version(self, name: str) -> int | None:
        """`name`'s credential version (None: no such teacher)."""
        record = self._load().get(name)
        return None if record is None else int(record.get("version", 0))

    def verify(self, name: str, password: str) -> bool:
        """True when `password` is `name`'s. Slow on purpose (argon2): call it off the event loop.

        An unknown name is checked against a dummy hash, so the answer takes as long as for a
        real teacher and the timing does not reveal which names exist.
        """
        dummy = self._dummy()  # made before the lookup, so that first call costs both kinds alike
        record = self._load().get(name)
        if record is None:
            with contextlib.suppress(VerificationError):  # always a mismatch: only the time counts
                self._hasher.verify(dummy, password)
            return False
        try:
            self._hasher.verify(record["hash"], password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            log.warning("teacher %r has an unusable password hash in %s", name, self.path)
            return False
        if self._hasher.check_needs_rehash(record["hash"]):
            self._rehash(name, password)
        return True

    def _rehash(self, name: str, password: str) -> None:
        digest = self._hasher.hash(password)
        try:
            with self._lock:
                records = self._load(fresh=True)
                if name in records:
                    records[name]["hash"] = digest
                    self._save(records)
        except (OSError, TeacherFileError) as exc:  # the login still succeeds; retry next time
            log.warning("could not upgrade the password hash of %r: %s", name, exc)

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _record(self, records: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
        try:
            return records[name]
        except KeyError:
            raise UnknownTeacherError(f"no teacher named {name!r} in {self.path}") from None

    def _load(self, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """The records; from the cache while the file's (inode, mtime, size) is unchanged.
        Callers that change the records ask for a `fresh` copy of their own."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TeacherFileError(f"cannot read teachers file {self.path}: {exc}") from exc
        identity = (info.st_ino, info.st_mtime_ns, info.st_size)
        if not fresh and self._cache is not None and self._cache[0] == identity:
            return self._cache[1]
        records = self._parse()
        if not fresh:
            self._cache = (identity, records)
        return records

    def _parse(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise TeacherFileError(f"cannot read teachers file {self.path}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TeacherFileError(f"teachers file {self.path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise TeacherFileError(f"teachers file {self.path} must hold a JSON object")
        for name, record in data.items():
            if not (
                isinstance(record, dict)
                and isinstance(record.get("hash"), str)
                and isinstance(record.get("admin"), bool)
                and isinstance(record.get("created"), str)
                and isinstance(record.get("version", 0), int)
            ):
                raise TeacherFileError(
                    f"teachers file {self.path}: entry {name!r} needs hash, admin and created"
                )
        return data

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps(records, indent=2, sort_keys=True) + "\n"
        write_atomically(self.path, text.encode("utf-8"), mode=0o600, fsync=True)
