"""The phrasing data of each language (articles, plurals, counting, joining words, the hunt game's
phrases, the phone page's own words), loaded from language files and checked.

Adding a language is a data file, not code. A language is one JSON file ``<code>.json`` (the
code in lowercase: "fr", "pt-br"); files are looked up, first match wins, in

1. the `folder` argument of `load_language` / `available_languages`, when given;
2. each folder named by the environment variable ``VISIONANYTHING_LANGUAGES_DIR`` (several
   separated by ``os.pathsep``; read at every call, so a test can set it with monkeypatch);
3. the files shipped in the package, ``inference/labels/data/``.

So a school can add a language, or correct a shipped one, by dropping a file into a folder and
pointing the variable at it. Folders that do not exist are skipped, so a typo in the variable
leaves the shipped languages working (the new language is then simply not listed).

To add one: copy ``data/fr.json`` (or ``en.json``) to ``<folder>/<code>.json``, set "code",
"name", "complete" and "status", translate the templates, numbers, "page" and "theme_titles",
give "names" for the detector words (theme words at least) and their genders in "nouns", set
``VISIONANYTHING_LANGUAGES_DIR=<folder>``, and check it with ``load_language("<code>")``.
Articles are one form per gender: languages whose article changes with grammatical case
(German "einen Hund" after "finden") are not modelled yet.

Every file is checked against ``schemas/language.schema.json`` (structure, types, required
keys, the placeholders each template needs, the page's keys), then by the rules a schema cannot
say (medium <= high, every gender has an article, the base language exists and bases do not
form a cycle); a broken file raises `LanguageDataError` naming the file, the place and the
problem. A loaded language is cached per (code, folders), so a new folder is never hidden by an
earlier load; `clear_language_cache` forgets everything (a file rewritten in place).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import best_match

from inference.labels.packaged import read_json_at

Band = Literal["high", "medium", "low"]
BANDS: tuple[Band, ...] = ("high", "medium", "low")
DATA_PACKAGE = "inference.labels"
DATA_FOLDER = "data"
SCHEMA_FOLDER = "schemas"
SCHEMA_FILE = "language.schema.json"
LANGUAGES_DIR_ENV = "VISIONANYTHING_LANGUAGES_DIR"
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")
# A schema error quotes the offending value; a whole object would drown the message.
MAX_ERROR_CHARS = 300
# Longest article prefix / plural ending a language file may use.
MAX_RULE_CHARS = 16


def clamp_score(score: object) -> float:
    """A detector score as a number in [0, 1]; anything unusable counts as 0."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real):  # numpy scalars are Real
        return 0.0
    value = float(score)
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0


class UnknownLanguageError(KeyError):
    """No phrasing data for a language code; the message lists the languages there are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LanguageDataError(ValueError):
    """A language data file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Noun:
    """What a language file says about one spoken name (all optional)."""

    article: str | None = None  # overrides the article rules; "" means no article
    plural: str | None = None  # the whole plural phrase
    gender: str | None = None  # picks `articles.by_gender`


@dataclass(frozen=True, eq=False)
class Language:
    """The phrasing rules of one language, as loaded from ``data/<code>.json``.

    Use `load_language` to get one (cached); the fields mirror the file's keys. Phrases are made
    by the functions of `inference.labels.phrases` (they need the article and plural rules).
    """

    code: str
    name: str
    complete: bool
    status: str
    base: str | None  # names missing here are looked up via this language's friendly names
    max_word_chars: int
    max_sentence_chars: int
    max_kinds: int
    high: float  # score >= high: "high" band
    medium: float  # score >= medium: "medium" band, below: "low"
    one: Mapping[str, str]  # band -> template with {thing}
    many: Mapping[str, str]  # band -> template with {things}
    chip: Mapping[str, str]  # band -> template with {name}
    count: str  # template with {number} and {plural}
    separator: str
    last_separator: str
    more: str
    numbers: Mapping[int, str]
    default_article: str
    articles_by_gender: Mapping[str, str]
    article_prefixes: Mapping[str, str]
    acronym_prefixes: Mapping[str, str]
    plural_head: Literal["first", "last"]
    plural_head_before: frozenset[str]
    default_suffix: str
    irregular_plurals: Mapping[str, str]
    plural_suffixes: Mapping[str, str]
    names: Mapping[str, str]
    nouns: Mapping[str, Noun]
    hunt: str  # template with {thing}: "Can you find {thing}?"
    found: str  # template with {thing}: "You found {thing}!"
    hint: str  # template with {letter}: "It starts with {letter}."
    class_found: str  # template with {name} and {thing}: "{name} found {thing}!"
    colour_hint: str  # template with {colour}: "It is {colour}."
    colours: Mapping[str, str]  # colour (themes.COLOURS) -> its word here ("yellow" -> "jaune")
    page_words: Mapping[str, str]  # the phone page's own words, read-only ("find_it" -> "Find it!")
    theme_titles: Mapping[str, str]  # theme name -> title in this language (may miss some)
    # The `base` language as loaded from the same folders; None when there is no base or this
    # Language was built by hand (then `base` is loaded by code).
    fallback: Language | None = None

    def band(self, score: float) -> Band:
        """The confidence band of a detector score (non-numbers count as 0)."""
        value = clamp_score(score)
        if value >= self.high:
            return "high"
        if value >= self.medium:
            return "medium"
        return "low"


LanguageLike = Language | str


# --------------------------------------------------------------------------- loading


def language_folders(folder: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """The extra folders searched before the packaged files, in order: `folder`, then the
    entries of ``VISIONANYTHING_LANGUAGES_DIR``. They key the cache, so they are plain strings."""
    extra = [] if folder is None else [os.fspath(folder)]
    extra += [entry for entry in os.environ.get(LANGUAGES_DIR_ENV, "").split(os.pathsep) if entry]
    return tuple(extra)


def available_languages(folder: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Codes of the languages that have a file, sorted ("en", "es", "fr", ...): the packaged
    ones and those in `folder` and ``VISIONANYTHING_LANGUAGES_DIR``. Listing does not load or
    check the files; `load_language` does."""
    return _codes_in(language_folders(folder))


def load_language(code: str = "en", *, folder: str | os.PathLike[str] | None = None) -> Language:
    """The phrasing rules for `code` ("en", "fr", "es"; case-insensitive, "_" as "-"), loaded
    once per set of folders and cached. `folder` is searched first (see the module docstring).

    Raises `UnknownLanguageError` (a `KeyError`) listing the available codes when there is no
    such file, and `LanguageDataError` when the file (or its base language's) is malformed.
    """
    key = code.strip().lower().replace("_", "-") if isinstance(code, str) else ""
    folders = language_folders(folder)
    if not LANGUAGE_CODE.fullmatch(key):
        raise _unknown(code, folders)
    return _load(key, folders)


def clear_language_cache() -> None:
    """Forget every loaded language and the schema, so files changed in place are read again.

    Languages from a new folder never need this: the cache is keyed on the folders.
    """
    _load.cache_clear()
    _validator.cache_clear()


def check_language_data(raw: Any, source: str = "language file") -> None:
    """Check parsed JSON against the language schema; raise `LanguageDataError` saying which
    file (`source`), where in it and what is wrong ("es.json: at $.templates: 'hunt' is a
    required property"). Only the most relevant problem is reported, one at a time."""
    error = best_match(_validator().iter_errors(raw))
    if error is not None:
        message = _describe(error)
        if len(message) > MAX_ERROR_CHARS:
            message = message[: MAX_ERROR_CHARS - 1] + "…"
        raise LanguageDataError(f"{source}: at {error.json_path}: {message}")


def _describe(error: Any) -> str:
    """A schema error in a translator's words: "'Find it!' needs {thing}" rather than a regular
    expression, "unknown keys ['dance']" rather than the regexes the keys failed."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "pattern" and "x-message" in schema:
        return f"{error.instance!r} {schema['x-message']}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        unknown = sorted(
            key
            for key in error.instance
            if key not in known and not any(re.search(pattern, key) for pattern in patterns)
        )
        return f"unknown keys {unknown}"
    return str(error.message)


@functools.cache
def _validator() -> Any:
    """The schema's validator, built once (the schema itself is checked on the way)."""
    text = (resources.files(DATA_PACKAGE) / SCHEMA_FOLDER / SCHEMA_FILE).read_text("utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _directories(folders: tuple[str, ...]) -> list[tuple[str, Traversable]]:
    """(how errors name it, the folder) for each place to look, the packaged data last."""
    places: list[tuple[str, Traversable]] = [(folder, Path(folder)) for folder in folders]
    places.append((DATA_FOLDER, resources.files(DATA_PACKAGE) / DATA_FOLDER))
    return places


def _unknown(code: object, folders: tuple[str, ...]) -> UnknownLanguageError:
    shown = code[:20] if isinstance(code, str) else type(code).__name__
    return UnknownLanguageError(
        f"no phrasing data for language {shown!r}; available: {', '.join(_codes_in(folders))}"
    )


def _codes_in(folders: tuple[str, ...]) -> tuple[str, ...]:
    codes: set[str] = set()
    for _, directory in _directories(folders):
        try:
            entries = list(directory.iterdir()) if directory.is_dir() else []
        except OSError:  # an unreadable extra folder must not hide the shipped languages
            entries = []
        for entry in entries:
            stem = entry.name[: -len(".json")] if entry.name.endswith(".json") else ""
            if LANGUAGE_CODE.fullmatch(stem):
                codes.add(stem)
    return tuple(sorted(codes))


def _read(code: str, folders: tuple[str, ...]) -> tuple[str, Any]:
    """(how errors name the file, its parsed JSON) for the first folder that has `code`."""
    for label, directory in _directories(folders):
        path = directory / f"{code}.json"
        if path.is_file():
            return read_json_at(path, f"{label}/{code}.json", LanguageDataError)
    raise _unknown(code, folders)


@functools.lru_cache(maxsize=32)
def _load(code: str, folders: tuple[str, ...]) -> Language:
    source, raw = _read(code, folders)
    check_language_data(raw, source)
    try:
        language = _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise LanguageDataError(f"{source}: {exc}") from exc
    if language.code != code:
        raise LanguageDataError(f"{source}: 'code' is {language.code!r}, expected {code!r}")
    if language.base is None:
        return language
    _check_base_chain(code, language.base, folders, source)
    return dataclasses.replace(language, fallback=_load(language.base, folders))


def _check_base_chain(code: str, base: str, folders: tuple[str, ...], source: str) -> None:
    """Fail early on a base language that is missing or leads back here (no endless lookups)."""
    chain = [code]
    current: Any = base
    while isinstance(current, str):
        if current in chain:
            route = " -> ".join([*chain, current])
            raise LanguageDataError(f"{source}: 'base' languages form a cycle: {route}")
        chain.append(current)
        try:
            _, raw = _read(current, folders)
        except UnknownLanguageError as exc:
            raise LanguageDataError(f"{source}: base language {current!r}: {exc}") from exc
        current = raw.get("base") if isinstance(raw, dict) else None


def _parse(raw: Any) -> Language:
    data = _mapping(raw, "file")
    limits = _mapping(data["limits"], "limits")
    confidence = _mapping(data["confidence"], "confidence")
    templates = _mapping(data["templates"], "templates")
    joining = _mapping(data["list"], "list")
    articles = _mapping(data["articles"], "articles")
    plurals = _mapping(data["plurals"], "plurals")

    high, medium = float(confidence["high"]), float(confidence["medium"])
    if not 0.0 <= medium <= high <= 1.0:
        raise ValueError("confidence needs 0 <= medium <= high <= 1")
    one = _templates(templates["one"], "one", "{thing}")
    many = _templates(templates["many"], "many", "{things}")
    chip = _templates(templates["chip"], "chip", "{name}")
    count = str(templates["count"])
    if "{number}" not in count or "{plural}" not in count:
        raise ValueError("templates.count needs {number} and {plural}")

    numbers: dict[int, str] = {}
    for number, word in _mapping(data["numbers"], "numbers").items():
        if not number.isdecimal() or int(number) < 2:
            raise ValueError(f"numbers: key {number!r} is not a number of at least 2")
        numbers[int(number)] = str(word)

    head = plurals["head"]
    if head not in ("first", "last"):
        raise ValueError("plurals.head must be 'first' or 'last'")
    nouns: dict[str, Noun] = {}
    for name, facts in _words(data["nouns"], "nouns").items():
        fields = _mapping(facts, f"nouns.{name}")
        unknown = set(fields) - {"article", "plural", "gender"}
        if unknown:
            raise ValueError(f"nouns.{name}: unknown keys {sorted(unknown)}")
        nouns[name] = Noun(
            article=_optional_str(fields.get("article")),
            plural=_optional_str(fields.get("plural")),
            gender=_optional_str(fields.get("gender")),
        )
    by_gender = {str(k): str(v) for k, v in _words(articles["by_gender"], "by_gender").items()}
    for name, noun in nouns.items():
        if noun.gender is not None and noun.gender not in by_gender:
            raise ValueError(f"nouns.{name}: gender {noun.gender!r} has no article")

    prefixes = _words(articles["prefixes"], "articles.prefixes", values=True)
    suffixes = _words(plurals["suffixes"], "plurals.suffixes", values=True)
    if any(len(key) > MAX_RULE_CHARS for key in (*prefixes, *suffixes)):
        raise ValueError(f"article prefixes and plural suffixes are at most {MAX_RULE_CHARS} chars")

    limit_words = int(limits["max_word_chars"])
    limit_sentence = int(limits["max_sentence_chars"])
    max_kinds = int(limits["max_kinds"])
    if limit_words < 1 or limit_sentence < limit_words or max_kinds < 1:
        raise ValueError("limits must be positive and max_sentence_chars >= max_word_chars")
    hunt = _template(templates["hunt"], "hunt", "{thing}")
    found = _template(templates["found"], "found", "{thing}")
    hint = _template(templates["hint"], "hint", "{letter}")
    class_found = _template(templates["class_found"], "class_found", "{thing}")
    colour_hint = _template(templates["colour_hint"], "colour_hint", "{colour}")
    page = {str(k): str(v) for k, v in _mapping(data["page"], "page").items() if k[:1] != "_"}
    titles = _mapping(data.get("theme_titles", {}), "theme_titles")
    base = data.get("base")
    return Language(
        code=str(data["code"]),
        name=str(data["name"]),
        complete=bool(data["complete"]),
        status=str(data.get("status", "")),
        base=None if base is None else str(base),
        max_word_chars=limit_words,
        max_sentence_chars=limit_sentence,
        max_kinds=max_kinds,
        high=high,
        medium=medium,
        one=one,
        many=many,
        chip=chip,
        count=count,
        separator=str(joining["separator"]),
        last_separator=str(joining["last"]),
        more=str(joining["more"]),
        numbers=MappingProxyType(numbers),
        default_article=str(articles["default"]),
        articles_by_gender=MappingProxyType(by_gender),
        article_prefixes=prefixes,
        acronym_prefixes=_words(articles["acronym_prefixes"], "acronym_prefixes", values=True),
        plural_head=head,
        plural_head_before=frozenset(str(word) for word in plurals["head_before"]),
        default_suffix=str(plurals["default_suffix"]),
        irregular_plurals=_words(plurals["irregular"], "plurals.irregular", values=True),
        plural_suffixes=suffixes,
        names=_words(data["names"], "names", values=True),
        nouns=MappingProxyType(nouns),
        hunt=hunt,
        found=found,
        hint=hint,
        class_found=class_found,
        colour_hint=colour_hint,
        colours=_words(data["colours"], "colours", values=True),
        page_words=MappingProxyType(page),
        theme_titles=MappingProxyType(
            {str(k): str(v) for k, v in titles.items() if not str(k).startswith("_")}
        ),
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be an object")
    return value


def _words(value: Any, where: str, *, values: bool = False) -> Mapping[str, Any]:
    """An object whose keys are lowercase words; keys starting with "_" are comments."""
    result: dict[str, Any] = {}
    for key, item in _mapping(value, where).items():
        if key.startswith("_"):
            continue
        if key != key.lower() or not key:
            raise ValueError(f"{where}: key {key!r} must be lowercase")
        if values and not isinstance(item, str):
            raise TypeError(f"{where}.{key} must be text")
        result[key] = item
    return MappingProxyType(result)


def _templates(value: Any, where: str, placeholder: str) -> Mapping[str, str]:
    table = _mapping(value, f"templates.{where}")
    result: dict[str, str] = {}
    for band in BANDS:
        template = str(table[band])
        if placeholder not in template:
            raise ValueError(f"templates.{where}.{band} needs {placeholder}")
        result[band] = template
    return MappingProxyType(result)


def _template(value: Any, where: str, placeholder: str) -> str:
    template = str(value)
    if placeholder not in template:
        raise ValueError(f"templates.{where} needs {placeholder}")
    return template


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _language(lang: LanguageLike) -> Language:
    return lang if isinstance(lang, Language) else load_language(lang)
