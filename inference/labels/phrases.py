"""Detector words → short phrases a child hears well ("an apple", "two cats", "That's a cat!").

All phrasing is data: one JSON file per language under ``inference/labels/data/`` (``en.json``
is complete, ``fr.json`` is started). This module only applies the rules a file gives:

- friendly names ("cell phone" → "phone"), looked up by the detector word;
- articles ("a cat", "an apple", "a unicorn", "an hour", "an LED"): per-noun overrides, then
  grammatical gender, then the longest matching prefix of the word, then a default;
- plurals ("mice", "buses", "strawberries", "pairs of scissors"): per-noun overrides, then
  whole-word irregulars, then the longest matching ending, then a default suffix, applied to the
  head word of a compound ("teddy bears", "pommes de terre");
- counts with number words up to twelve, digits after ("13 cats");
- confidence wording by band ("That's a cat!" / "I think that's a cat." / "Is that a cat?");
- several objects in one sentence ("I see two cats, a dog and a cup!").

Every input is untrusted (it may come from a user's vocabulary): it is sanitised — markup and
control characters removed, whitespace collapsed, lowercased, each name capped in length — and
an empty or hostile input gives "" rather than an error. Unknown words pass through with the
regular rules. A sentence never exceeds the language's ``max_sentence_chars``.
"""

from __future__ import annotations

import functools
import html
import itertools
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from inference.labels.packaged import read_json

Band = Literal["high", "medium", "low"]
BANDS: tuple[Band, ...] = ("high", "medium", "low")

# Work on at most this much of any input string: a label is a few words, so anything longer is
# noise, and bounding it keeps the sanitiser's regular expressions cheap on hostile input.
MAX_INPUT_CHARS = 1024
# At most this many (label, score) pairs are read by `say_objects`.
MAX_OBJECTS = 256

_DATA_PACKAGE = "inference.labels"
_DATA_FOLDER = "data"
_CODE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})?")

_BLOCK = re.compile(r"<(script|style)\b[^<>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^<>]*>")
_TRANSLATE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "_": " "})
_EDGE = "-'"
# Longest article prefix / plural ending a language file may use.
_MAX_RULE_CHARS = 16


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
    folder = resources.files(_DATA_PACKAGE) / _DATA_FOLDER
    return tuple(
        sorted(
            entry.name[: -len(".json")]
            for entry in folder.iterdir()
            if entry.name.endswith(".json") and _CODE.fullmatch(entry.name[: -len(".json")])
        )
    )


def load_language(code: str = "en") -> Language:
    """The phrasing rules for `code` ("en", "fr"; case-insensitive), loaded once and cached.

    Raises `UnknownLanguageError` (a `KeyError`) listing the available codes when there is no
    such file, and `LanguageDataError` when the file is malformed.
    """
    key = code.strip().lower().replace("_", "-") if isinstance(code, str) else ""
    if not _CODE.fullmatch(key) or key not in available_languages():
        shown = code[:20] if isinstance(code, str) else type(code).__name__
        raise UnknownLanguageError(
            f"no phrasing data for language {shown!r}; "
            f"available: {', '.join(available_languages())}"
        )
    return _load(key)


@functools.lru_cache(maxsize=16)
def _load(code: str) -> Language:
    source, raw = read_json(_DATA_PACKAGE, _DATA_FOLDER, code, LanguageDataError)
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
    if any(len(key) > _MAX_RULE_CHARS for key in (*prefixes, *suffixes)):
        raise ValueError(
            f"article prefixes and plural suffixes are at most {_MAX_RULE_CHARS} chars"
        )

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


# --------------------------------------------------------------------------- sanitising


def clean_label(text: object, *, max_chars: int = 40, lower: bool = True) -> str:
    """Untrusted text → a short plain name, or "" when nothing usable is left.

    NFKC-normalises, unescapes HTML entities, removes markup (``<script>``/``<style>`` elements
    with their content, any other tag), keeps letters, combining marks, digits, spaces, hyphens
    and apostrophes (anything else becomes a space; invisible format characters vanish),
    collapses whitespace, optionally lowercases, and cuts the result to `max_chars` at a word
    boundary where there is one. Non-text input gives "".
    """
    if not isinstance(text, str) or max_chars < 1:
        return ""
    text = html.unescape(unicodedata.normalize("NFKC", text[:MAX_INPUT_CHARS]))
    text = _TAG.sub(" ", _BLOCK.sub(" ", text)).translate(_TRANSLATE)
    if lower:
        text = text.lower()
    kept = "".join(_keep(ch) for ch in text)
    words = (word.strip(_EDGE) for word in kept.split())
    return _cut(" ".join(word for word in words if _has_letter_or_digit(word)), max_chars)


def _keep(ch: str) -> str:
    if ch in " -'":
        return ch
    category = unicodedata.category(ch)
    if category[0] in ("L", "M") or category == "Nd":
        return ch
    return "" if category == "Cf" else " "


def _has_letter_or_digit(word: str) -> bool:
    return any(unicodedata.category(ch)[0] == "L" or ch.isdecimal() for ch in word)


def _cut(text: str, max_chars: int) -> str:
    """`text` shortened to at most `max_chars`, at the last space that fits if there is one."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if text[max_chars] != " " and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,-'")


def clamp_score(score: object) -> float:
    """A detector score as a number in [0, 1]; anything unusable counts as 0."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real):  # numpy scalars are Real
        return 0.0
    value = float(score)
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0


def _fold(text: str) -> str:
    """Lowercase without accents, for matching rules ("Éclair" → "eclair")."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


# --------------------------------------------------------------------------- words


def friendly_name(word: str, lang: LanguageLike = "en") -> str:
    """The name a child hears for a detector word: "cell phone" → "phone", "cat" → "cat".

    The word is sanitised and lowercased first; a word the language does not list passes
    through (via the language's `base`, whose friendly name is looked up again). "" → "".
    """
    if not isinstance(word, str):
        return ""
    return _friendly_name(word[:MAX_INPUT_CHARS], _language(lang))


@functools.lru_cache(maxsize=4096)
def _friendly_name(word: str, language: Language) -> str:
    """`friendly_name`, cached: it runs for every object of every frame."""
    key = clean_label(word, max_chars=language.max_word_chars)
    if not key:
        return ""
    found = language.names.get(key)
    if found is not None:
        return found
    if language.base is not None:
        via = friendly_name(key, language.base)
        return language.names.get(via.lower(), via)
    return key


def with_article(name: str, lang: LanguageLike = "en") -> str:
    """`name` with its indefinite article: "an apple", "a unicorn", "an hour", "a TV",
    "a pair of scissors", "broccoli" (mass noun, no article). "" → "".

    `name` is a spoken name (see `friendly_name`); it is sanitised but keeps its case.
    """
    language = _language(lang)
    name = clean_label(name, max_chars=language.max_word_chars, lower=False)
    if not name:
        return ""
    article = _article(name, language)
    return f"{article} {name}" if article else name


def _article(name: str, language: Language) -> str:
    noun = language.nouns.get(name.lower())
    if noun is not None and noun.article is not None:
        return noun.article
    if noun is not None and noun.gender is not None:
        return language.articles_by_gender[noun.gender]
    first = re.split(r"[ -]", name, maxsplit=1)[0]
    if language.acronym_prefixes and len(first) >= 2 and first.isupper():
        return language.acronym_prefixes.get(_fold(first[0]), language.default_article)
    if language.article_prefixes:
        found = _longest_prefix(_fold(name) + " ", language.article_prefixes)
        if found is not None:
            return found
    return language.default_article


def _longest_prefix(text: str, table: Mapping[str, str]) -> str | None:
    for length in range(min(len(text), _MAX_RULE_CHARS), 0, -1):
        found = table.get(text[:length])
        if found is not None:
            return found
    return None


def plural(name: str, lang: LanguageLike = "en") -> str:
    """The plural of a spoken name: "cat" → "cats", "mouse" → "mice", "bus" → "buses",
    "teddy bear" → "teddy bears", "scissors" → "pairs of scissors". "" → "".
    """
    language = _language(lang)
    name = clean_label(name, max_chars=language.max_word_chars, lower=False)
    if not name:
        return ""
    noun = language.nouns.get(name.lower())
    if noun is not None and noun.plural is not None:
        return noun.plural
    words = name.split(" ")
    head = 0 if language.plural_head == "first" else len(words) - 1
    if language.plural_head_before:
        for index, word in enumerate(words[1:], start=1):
            if word.lower() in language.plural_head_before:
                head = index - 1
                break
    words[head] = _plural_word(words[head], language)
    return " ".join(words)


def _plural_word(word: str, language: Language) -> str:
    lower = word.lower()
    irregular = language.irregular_plurals.get(lower)
    if irregular is not None:
        return irregular
    for length in range(min(len(lower), _MAX_RULE_CHARS), 0, -1):
        replacement = language.plural_suffixes.get(lower[-length:])
        if replacement is not None:
            return word[:-length] + replacement
    return word + language.default_suffix


def count_phrase(name: str, n: int, lang: LanguageLike = "en") -> str:
    """`n` of a spoken name: 1 → "a cat", 2 → "two cats", 13 → "13 cats"; n < 1 or "" → ""."""
    language = _language(lang)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return ""
    if n == 1:
        return with_article(name, language)
    many = plural(name, language)
    if not many:
        return ""
    number = language.numbers.get(n, str(n))
    return language.count.replace("{number}", number).replace("{plural}", many)


def describe_object(label: str, score: float = 1.0, lang: LanguageLike = "en") -> str:
    """Short chip text for one detected object: "cat", or "cat?" when the score is low."""
    language = _language(lang)
    name = friendly_name(label, language)
    if not name:
        return ""
    return language.chip[language.band(score)].replace("{name}", name)


def join_list(items: Iterable[str], lang: LanguageLike = "en") -> str:
    """ "a cat", "a dog", "a cup" → "a cat, a dog and a cup" (empty items are skipped)."""
    language = _language(lang)
    parts = [item for item in items if item]
    if len(parts) <= 1:
        return "".join(parts)
    return language.separator.join(parts[:-1]) + language.last_separator + parts[-1]


def say_objects(objects: Iterable[tuple[str, float]], lang: LanguageLike = "en") -> str:
    """One sentence for objects that appear together.

    Objects with the same friendly name are counted ("two cats"); kinds are ordered by their best
    score and at most `max_kinds` are named, the rest summed up as "and more". The wording follows
    the lowest of the named kinds' best scores, so the sentence never sounds surer than its least
    certain part: one object → "That's a cat!" / "I think that's a cat." / "Is that a cat?";
    several → "I see two cats and a dog!" / "I think I see …" / "Do I see …?".
    Unusable labels are skipped; nothing left → "".
    """
    language = _language(lang)
    counts: dict[str, int] = {}
    best: dict[str, float] = {}
    for item in itertools.islice(objects, MAX_OBJECTS):
        try:
            label, score = item
        except (TypeError, ValueError):
            continue
        name = friendly_name(label, language)
        if not name:
            continue
        counts[name] = counts.get(name, 0) + 1
        best[name] = max(best.get(name, 0.0), clamp_score(score))
    if not counts:
        return ""
    kinds = sorted(counts, key=lambda name: -best[name])  # stable: ties keep first appearance
    shown = kinds[: language.max_kinds]
    band = language.band(min(best[name] for name in shown))
    if len(kinds) == 1 and counts[shown[0]] == 1:
        thing = with_article(shown[0], language)
        sentence = language.one[band].replace("{thing}", thing)
    else:
        items = [count_phrase(name, counts[name], language) for name in shown]
        if len(kinds) > len(shown):
            items.append(language.more)
        sentence = language.many[band].replace("{things}", join_list(items, language))
    return _cut(sentence, language.max_sentence_chars)
