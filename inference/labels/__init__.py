"""Labels for speaking: detector words → short spoken phrases, themes, and when to speak.

- `phrases`: articles, plurals, counts, friendly names, confidence wording, several objects in
  one sentence; the rules are data files per language (``data/<code>.json``).
- `themes`: ready-made vocabularies (``themes/<name>.json``).
- `announcer`: the announcement policy (dwell, once per sighting, cool-down, minimum gap).
"""

from inference.labels.announcer import Announcer, AnnouncerSettings, SayEvent, TrackedObject
from inference.labels.languages import (
    Language,
    LanguageDataError,
    UnknownLanguageError,
    available_languages,
    clamp_score,
    load_language,
)
from inference.labels.phrases import (
    clean_label,
    count_phrase,
    describe_object,
    friendly_name,
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
    "THEMES",
    "Announcer",
    "AnnouncerSettings",
    "Language",
    "LanguageDataError",
    "SayEvent",
    "Theme",
    "ThemeDataError",
    "TrackedObject",
    "UnknownLanguageError",
    "UnknownThemeError",
    "available_languages",
    "clamp_score",
    "clean_label",
    "count_phrase",
    "describe_object",
    "friendly_name",
    "join_list",
    "load_language",
    "load_theme",
    "plural",
    "say_objects",
    "theme_names",
    "with_article",
]
