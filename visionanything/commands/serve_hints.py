"""What `serve` prints and listens on: the host, TLS contexts, the command line to show, the hints
for a missing teacher file or checkpoints."""

from __future__ import annotations

import contextlib
import logging
import shlex
import shutil
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stream.classroom.teachers import TeacherFileError, TeacherStore, default_teachers_path
from stream.edge.tls import Certificate, ensure_certificate, server_ssl_context
from stream.edge.urls import certificate_hosts

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from stream.app import ServerConfig


def listen_host(host: str | None, http: bool) -> str:
    """The address to listen on: the one given, else 127.0.0.1 for plain HTTP (the camera
    works on http:// only on this machine, so the LAN need not reach it) and every interface
    for HTTPS (phones come over the LAN)."""
    if host is not None:
        return host
    return "127.0.0.1" if http else "0.0.0.0"


def own_certificate_context(cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """A TLS context for the operator's certificate and key; ValueError saying what is wrong
    (one of the two missing, a file that is not there or not PEM, a key of another
    certificate)."""

    if cert is None or key is None:
        raise ValueError("--cert and --key go together: give both files")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for option, path in (("--cert", cert), ("--key", key)):
        if not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    try:
        x509.load_pem_x509_certificate(cert.read_bytes())
    except ValueError as exc:
        raise ValueError(f"--cert {cert} is not a PEM certificate") from exc
    try:
        serialization.load_pem_private_key(key.read_bytes(), password=None)
    except TypeError as exc:
        raise ValueError(f"--key {key} is encrypted: give a key without a passphrase") from exc
    except ValueError as exc:
        raise ValueError(f"--key {key} is not a PEM private key") from exc
    try:
        return server_ssl_context(Certificate(cert, key, created=False))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc).upper():
            raise ValueError(f"--key {key} is not the private key of --cert {cert}") from exc
        raise ValueError(f"--cert {cert} / --key {key} cannot be used: {exc}") from exc


def cli_command(
    argv0: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
    cwd: Path | None = None,
) -> str:
    """How to type this program here, for the hints it prints: `visionanything` when that name
    on the PATH is this very program, else its path (`make` installs it in .venv/bin, which is
    not on the PATH), relative to the working directory when it lies below it."""
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    here = cwd or Path.cwd()
    if script.name != "visionanything":  # `python -m visionanything`
        return f"{_shown_path(Path(sys.executable), here)} -m visionanything"
    found = which("visionanything")
    with contextlib.suppress(OSError):
        if found and Path(found).resolve() == (here / script).resolve():
            return "visionanything"
    return _shown_path(script, here)


def _shown_path(path: Path, cwd: Path) -> str:
    absolute = path if path.is_absolute() else cwd / path
    try:
        return shlex.quote(str(absolute.relative_to(cwd)))
    except ValueError:
        return shlex.quote(str(absolute))


def teacher_hint(config: ServerConfig, cli: str, makefile: Path = Path("Makefile")) -> str | None:
    """Rooms need a teacher account: how to make the first one (a command that works as typed
    here), or None when there is one. Raises TeacherFileError when the file is unreadable."""

    own_file = config.classroom.teachers_file
    path = own_file or default_teachers_path()
    if TeacherStore(path).names():
        return None
    command = f"`{cli} teacher add NAME" + (f" --file {path}`" if own_file else "`")
    if own_file is None and _has_make_target(makefile, "teacher"):
        command = f"`make teacher NAME=lee` (or {command})"
    return f"No teacher accounts in {path} yet: {command} makes one (needed for classroom rooms)."


def _has_make_target(makefile: Path, target: str) -> bool:
    try:
        return any(line.startswith(f"{target}:") for line in makefile.read_text().splitlines())
    except (OSError, UnicodeDecodeError):
        return False


def _teacher_hint(config: ServerConfig, cli: str) -> None:

    try:
        hint = teacher_hint(config, cli)
    except TeacherFileError as exc:
        log.error("teacher accounts cannot be read: %s", exc)
        return
    if hint:
        print(hint)


def _tls_context(cert_dir: Path, host: str) -> ssl.SSLContext:

    return server_ssl_context(ensure_certificate(cert_dir, certificate_hosts(host)))
