"""Reading the JSON data files shipped inside the package (languages, themes)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def read_json(package: str, folder: str, name: str, error: type[Exception]) -> tuple[str, Any]:
    """(`folder/name.json`, its parsed content); unreadable or invalid JSON raises `error`."""
    source = f"{folder}/{name}.json"
    path = resources.files(package) / folder / f"{name}.json"
    try:
        return source, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise error(f"{source}: cannot read: {exc}") from exc
