"""`GET /api/choices`: the themes a page may offer and the limits of its boxes, as the server
defines them, so the pages (web/) type neither again: the teacher's theme list and words box,
the photo page's, the phone's theme list, name and class-code boxes. (A connected phone also
hears the themes and the words limit in `hello`; the other pages have no data channel.)

    {"themes": [{"name": "animals", "title": "Animals"}, ...],
     "languages": [{"code": "en", "name": "English"}, {"code": "fr", "name": "Français"}, ...],
     "limits": {"max_words": 32, "max_word_chars": 40, ...what the app passes in}}

The themes are the engine's (`themes()`), or the ones that ship with the package while the
engine still loads (`themes()` gives None). The vocabulary parser's limits come from
`inference.labels.vocabulary`; the others (the protocol's, the rooms') from the caller, which
may import them (this module sits below the rest of `stream`). Public and cheap like
`GET /api/status`: theme names and a few numbers, nothing about rooms or the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from inference.labels.catalogue import language_menu
from inference.labels.themes import ThemeDataError, UnknownThemeError, load_theme, theme_names
from inference.labels.vocabulary import DEFAULT_MAX_WORD_CHARS, DEFAULT_MAX_WORDS

CHOICES_PATH = "/api/choices"


def install_page_choices(
    app: web.Application,
    themes: Callable[[], Iterable[str] | None],
    **limits: int | str,
) -> None:
    """Answer `GET /api/choices` with `themes()` (None: the packaged themes) and `limits`
    (e.g. `max_words_chars=2000`), next to the vocabulary parser's own."""

    async def choices(_: web.Request) -> web.Response:
        return web.json_response(
            describe_choices(themes(), limits), headers={"Cache-Control": "no-store"}
        )

    app.router.add_get(CHOICES_PATH, choices)


def describe_choices(
    themes: Iterable[str] | None, limits: Mapping[str, int | str]
) -> dict[str, Any]:
    """The answer's body."""
    names = theme_names() if themes is None else tuple(themes)
    return {
        "themes": [{"name": name, "title": _title(name)} for name in names],
        # the languages a child or a teacher may pick, each named in itself
        "languages": [{"code": m["code"], "name": m["name"]} for m in language_menu()],
        "limits": {
            "max_words": DEFAULT_MAX_WORDS,
            "max_word_chars": DEFAULT_MAX_WORD_CHARS,
            **limits,
        },
    }


def _title(name: str) -> str:
    """A packaged theme's title ("Kitchen"); another theme's name, capitalised."""
    try:
        return load_theme(name).title
    except (UnknownThemeError, ThemeDataError):
        return name[:1].upper() + name[1:]
