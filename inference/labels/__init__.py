"""Labels for speaking: detector words → short spoken phrases, themes, and when to speak.

- `languages`: the phrasing data of each language, one JSON file per language (``data/<code>.json``
  or an extra folder; adding a language is a data file), checked against
  ``schemas/language.schema.json``.
- `phrases`: articles, plurals, counts, friendly names, confidence wording, several objects in
  one sentence, the hunt game's prompt, cheer and first-letter hint.
- `catalogue`: everything the phone page needs for one language, as a JSON-ready dict.
- `themes`: ready-made vocabularies (``themes/<name>.json``).
- `announcer`: the announcement policy (dwell, once per sighting, cool-down, minimum gap).
"""

from inference.labels.announcer import Announcer, AnnouncerSettings, SayEvent, TrackedObject
from inference.labels.catalogue import language_menu, page_catalogue
from inference.labels.languages import (
    LANGUAGES_DIR_ENV,
    Language,
    LanguageDataError,
    UnknownLanguageError,
    available_languages,
    check_language_data,
    clamp_score,
    clear_language_cache,
    load_language,
)
from inference.labels.phrases import (
    HuntPhrases,
    clean_label,
    count_phrase,
    describe_object,
    first_letter,
    first_letter_hint,
    found_phrase,
    friendly_name,
    hunt_phrases,
    hunt_prompt,
    join_list,
    plural,
    say_objects,
    with_article,
)
from inference.labels.themes import (
    THEMES,
    Theme,
    ThemeDataError,
    UnknownThemeError,
    load_theme,
    theme_names,
)

__all__ = [
    "LANGUAGES_DIR_ENV",
    "THEMES",
    "Announcer",
    "AnnouncerSettings",
    "HuntPhrases",
    "Language",
    "LanguageDataError",
    "SayEvent",
    "Theme",
    "ThemeDataError",
    "TrackedObject",
    "UnknownLanguageError",
    "UnknownThemeError",
    "available_languages",
    "check_language_data",
    "clamp_score",
    "clean_label",
    "clear_language_cache",
    "count_phrase",
    "describe_object",
    "first_letter",
    "first_letter_hint",
    "found_phrase",
    "friendly_name",
    "hunt_phrases",
    "hunt_prompt",
    "join_list",
    "language_menu",
    "load_language",
    "load_theme",
    "page_catalogue",
    "plural",
    "say_objects",
    "theme_names",
    "with_article",
]
