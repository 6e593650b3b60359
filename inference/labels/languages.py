"""The phrasing data of each language (articles, plurals, counting, joining words), loaded from
the packaged language files and checked."""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from inference.labels.packaged import read_json

Band = Literal["high", "medium", "low"]
BANDS: tuple[Band, ...] = ("high", "medium", "low")
DATA_PACKAGE = "inference.labels"
DATA_FOLDER = "data"
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})?")
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

    Use `load_language` to get one (cached); the fields mirror the file's keys.
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


def available_languages() -> tuple[str, ...]:
    """Codes of the languages that have a data file, sorted ("en", "fr", ...)."""
    folder = resources.files(DATA_PACKAGE) / DATA_FOLDER
    return tuple(
        sorted(
            entry.name[: -len(".json")]
            for entry in folder.iterdir()
            if entry.name.endswith(".json") and LANGUAGE_CODE.fullmatch(entry.name[: -len(".json")])
        )
    )


def load_language(code: str = "en") -> Language:
    """The phrasing rules for `code` ("en", "fr"; case-insensitive), loaded once and cached.

    Raises `UnknownLanguageError` (a `KeyError`) listing the available codes when there is no
    such file, and `LanguageDataError` when the file is malformed.
    """
    key = code.strip().lower().replace("_", "-") if isinstance(code, str) else ""
    if not LANGUAGE_CODE.fullmatch(key) or key not in available_languages():
        shown = code[:20] if isinstance(code, str) else type(code).__name__
        raise UnknownLanguageError(
            f"no phrasing data for language {shown!r}; "
            f"available: {', '.join(available_languages())}"
        )
    return _load(key)


@functools.lru_cache(maxsize=16)
def _load(code: str) -> Language:
    source, raw = read_json(DATA_PACKAGE, DATA_FOLDER, code, LanguageDataError)
    try:
        language = _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise LanguageDataError(f"{source}: {exc}") from exc
    if language.code != code:
        raise LanguageDataError(f"{source}: 'code' is {language.code!r}, expected {code!r}")
    if language.base is not None:
        if language.base == code:
            raise LanguageDataError(f"{source}: 'base' cannot be the language itself")
        load_language(language.base)  # fail early on a bad base
    return language


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


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _language(lang: LanguageLike) -> Language:
    return lang if isinstance(lang, Language) else load_language(lang)
