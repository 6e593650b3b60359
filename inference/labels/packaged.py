"""Reading the JSON data files of this package (languages, themes), shipped or from a folder."""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any


def read_json(package: str, folder: str, name: str, error: type[Exception]) -> tuple[str, Any]:
    """(`folder/name.json`, its parsed content); unreadable or invalid JSON raises `error`."""
    source = f"{folder}/{name}.json"
    return read_json_at(resources.files(package) / folder / f"{name}.json", source, error)


def read_json_at(path: Traversable, source: str, error: type[Exception]) -> tuple[str, Any]:
    """(`source`, the parsed content of `path`); a file that cannot be read, is not UTF-8 or is
    not JSON raises `error` naming `source`, so a broken data file never surfaces as a bare
    OSError or JSONDecodeError far from its cause."""
    try:
        return source, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise error(f"{source}: cannot read: {exc}") from exc
