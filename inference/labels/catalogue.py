"""Everything the phone page needs to speak and show one language, as one JSON-ready dict.

The page is static and the child's language is chosen at run time, so the server sends the
page its words rather than the page carrying every language: the page's own words (buttons,
headings), the templates it fills in itself (the hunt game's prompt, cheer and hint), and every
theme with its title and words already translated (detector word → spoken name, with article,
plural, first letter). The detector keeps getting the English words; the page shows and says the
translated ones. Only plain JSON types are used (str, int, bool, list, dict), so the result
can go straight to ``json.dumps`` or a data channel.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from inference.labels.languages import (
    Language,
    LanguageDataError,
    LanguageLike,
    available_languages,
    load_language,
)
from inference.labels.phrases import first_letter, friendly_name, plural, with_article
from inference.labels.themes import load_theme, theme_names

log = logging.getLogger(__name__)

# Bumped when the shape of `page_catalogue`'s result changes, so a cached page can notice.
CATALOGUE_VERSION = 1


def page_catalogue(
    lang: LanguageLike = "en", *, folder: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The page's data for one language (a code, or a loaded `Language`)::

        {"version": 1, "code": "fr", "name": "Français", "complete": true, "status": "...",
         "page": {"find_it": "Cherche et trouve !", ...},
         "templates": {"one": {...}, "many": {...}, "chip": {...}, "count": "...",
                       "hunt": "Tu peux trouver {thing} ?", "found": "...", "hint": "...",
                       "list": {"separator": ", ", "last": " et ", "more": "..."},
                       "numbers": {"2": "deux", ...}},
         "themes": [{"name": "fruit", "title": "Fruits",
                     "words": [{"word": "strawberry", "name": "fraise", "thing": "une fraise",
                                "plural": "fraises", "letter": "F"}, ...]}, ...]}

    A new dict each call (the caller may change it). `folder` is where to look for the
    language file first (see `languages`). Raises what `load_language` and `load_theme` raise.
    """
    language = lang if isinstance(lang, Language) else load_language(lang, folder=folder)
    return {
        "version": CATALOGUE_VERSION,
        "code": language.code,
        "name": language.name,
        "complete": language.complete,
        "status": language.status,
        "page": dict(language.page_words),
        "templates": _templates(language),
        "themes": [_theme(name, language) for name in theme_names()],
    }


def language_menu(folder: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The page's language picker: ``[{"code": "en", "name": "English", "complete": true}, ...]``
    sorted by code. A language whose file is broken is left out (and logged) rather than
    breaking the picker for every other language."""
    menu: list[dict[str, Any]] = []
    for code in available_languages(folder):
        try:
            language = load_language(code, folder=folder)
        except LanguageDataError as exc:
            log.warning("language %s left out of the menu: %s", code, exc)
            continue
        menu.append({"code": language.code, "name": language.name, "complete": language.complete})
    return menu


def _templates(language: Language) -> dict[str, Any]:
    return {
        "one": dict(language.one),
        "many": dict(language.many),
        "chip": dict(language.chip),
        "count": language.count,
        "hunt": language.hunt,
        "found": language.found,
        "hint": language.hint,
        "list": {
            "separator": language.separator,
            "last": language.last_separator,
            "more": language.more,
        },
        "numbers": {str(number): word for number, word in sorted(language.numbers.items())},
    }


def _theme(name: str, language: Language) -> dict[str, Any]:
    theme = load_theme(name)
    words = []
    for word in theme.words:
        spoken = friendly_name(word, language)
        words.append(
            {
                "word": word,
                "name": spoken,
                "thing": with_article(spoken, language),
                "plural": plural(spoken, language),
                "letter": first_letter(spoken, language),
            }
        )
    return {
        "name": theme.name,
        "title": language.theme_titles.get(theme.name, theme.title),
        "words": words,
    }
