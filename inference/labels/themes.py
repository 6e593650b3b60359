"""Ready-made vocabularies ("animals", "fruit", "kitchen", "classroom", "toys") for a teacher.

Each theme is a data file ``inference/labels/themes/<name>.json``::

    {"name": "kitchen", "title": "Kitchen",
     "words": ["cup", "frying pan", ...],          # words the detector understands
     "friendly": {"frying pan": "pan", ...},        # spoken names where they differ (English)
     "colours": {"banana": "yellow", ...}}          # optional: the colour a child expects

The words go to the detector as its vocabulary, so they are plain lowercase nouns (letters,
digits, single spaces, hyphens, apostrophes), unique, and few enough to keep the detector's
caption short. Spoken names in other languages come from the language files (see `phrases`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from inference.labels.packaged import read_json

_PACKAGE = "inference.labels"
_FOLDER = "themes"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_WORD = re.compile(r"[a-z0-9]+(?:[ '-][a-z0-9]+)*")

# Limits a theme must keep: the vocabulary parser accepts at most 32 words of 40 characters.
MAX_WORDS = 32
MAX_WORD_CHARS = 40
# The colours a theme may give its words (the hunt's colour hint); every language file names them.
COLOURS = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
)  # fmt: skip


class UnknownThemeError(LookupError):
    """No theme of that name; the message lists the themes there are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ThemeDataError(ValueError):
    """A theme file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Theme:
    """One theme: its detector words in order and their friendly (English) names."""

    name: str
    title: str
    words: tuple[str, ...]
    friendly: Mapping[str, str]
    colours: Mapping[str, str]  # word -> one of COLOURS (words a child knows by colour only)

    def __hash__(self) -> int:
        return hash((self.name, self.words))

    def friendly_name(self, word: str) -> str:
        """The spoken (English) name of one of this theme's words; other words pass through."""
        return self.friendly.get(word, word)

    @property
    def caption(self) -> str:
        """The words as a Grounding DINO caption: "cat . dog . bird ."."""
        return " . ".join(self.words) + " ."


def theme_names() -> tuple[str, ...]:
    """Names of the themes that ship with the package, sorted."""
    folder = resources.files(_PACKAGE) / _FOLDER
    names = (entry.name[: -len(".json")] for entry in folder.iterdir())
    return tuple(sorted(name for name in names if _NAME.fullmatch(name)))


def load_theme(name: str) -> Theme:
    """The theme called `name` (case and surrounding spaces ignored), loaded once and cached.

    Raises `UnknownThemeError` (a `LookupError`) listing the available themes when there is no such
    theme, and `ThemeDataError` when its file is malformed.
    """
    key = name.strip().lower() if isinstance(name, str) else ""
    available = theme_names()
    if key not in available:
        shown = name[:40] if isinstance(name, str) else type(name).__name__
        raise UnknownThemeError(f"no theme called {shown!r}; available: {', '.join(available)}")
    return _load(key)


@functools.lru_cache(maxsize=64)
def _load(name: str) -> Theme:
    source, raw = read_json(_PACKAGE, _FOLDER, name, ThemeDataError)
    try:
        theme = _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ThemeDataError(f"{source}: {exc}") from exc
    if theme.name != name:
        raise ThemeDataError(f"{source}: 'name' is {theme.name!r}, expected {name!r}")
    return theme


def _parse(raw: Any) -> Theme:
    if not isinstance(raw, dict):
        raise TypeError("a theme file must hold an object")
    words = raw["words"]
    if not isinstance(words, list) or not words:
        raise ValueError("'words' must be a non-empty list")
    if len(words) > MAX_WORDS:
        raise ValueError(f"{len(words)} words; at most {MAX_WORDS}")
    for word in words:
        if not isinstance(word, str) or not _WORD.fullmatch(word) or len(word) > MAX_WORD_CHARS:
            raise ValueError(f"word {word!r} is not a plain lowercase word of at most 40 chars")
    if len(set(words)) != len(words):
        raise ValueError("'words' has duplicates")
    friendly = raw.get("friendly", {})
    if not isinstance(friendly, dict):
        raise TypeError("'friendly' must be an object")
    for word, spoken in friendly.items():
        if word not in words:
            raise ValueError(f"friendly name for {word!r}, which is not one of the words")
        if not isinstance(spoken, str) or not spoken.strip():
            raise ValueError(f"friendly name for {word!r} must be non-empty text")
    colours = raw.get("colours", {})
    if not isinstance(colours, dict):
        raise TypeError("'colours' must be an object")
    for word, colour in colours.items():
        if word not in words:
            raise ValueError(f"colour for {word!r}, which is not one of the words")
        if colour not in COLOURS:
            raise ValueError(f"colour {colour!r} of {word!r} is not one of {', '.join(COLOURS)}")
    return Theme(
        name=str(raw["name"]),
        title=str(raw.get("title") or raw["name"]),
        words=tuple(words),
        friendly=MappingProxyType(dict(friendly)),
        colours=MappingProxyType(dict(colours)),
    )


def colour_of(word: str) -> str | None:
    """The colour a packaged theme gives `word` (one of COLOURS), or None."""
    for name in theme_names():
        colour = load_theme(name).colours.get(word)
        if colour is not None:
            return colour
    return None


THEMES: tuple[str, ...] = theme_names()
