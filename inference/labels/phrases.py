"""Detector words → short phrases a child hears well ("an apple", "two cats", "That's a cat!").

All phrasing is data: one JSON file per language under ``inference/labels/data/`` (``en.json``,
``fr.json``, ``es.json``) or an extra folder (see `languages`). This module only applies the rules
a file gives:

- friendly names ("cell phone" → "phone"), looked up by the detector word;
- articles ("a cat", "an apple", "a unicorn", "an hour", "an LED"): per-noun overrides, then
  grammatical gender, then the longest matching prefix of the word, then a default;
- plurals ("mice", "buses", "strawberries", "pairs of scissors"): per-noun overrides, then
  whole-word irregulars, then the longest matching ending, then a default suffix, applied to the
  head word of a compound ("teddy bears", "pommes de terre");
- counts with number words up to twelve, digits after ("13 cats");
- confidence wording by band ("That's a cat!" / "I think that's a cat." / "Is that a cat?");
- several objects in one sentence ("I see two cats, a dog and a cup!");
- the "Find it!" hunt game: "Can you find a cat?", "You found a cat!", "It starts with C.".

Every input is untrusted (it may come from a user's vocabulary): it is sanitised — markup and
control characters removed, whitespace collapsed, lowercased, each name capped in length — and
an empty or hostile input gives "" rather than an error. Unknown words pass through with the
regular rules. A sentence never exceeds the language's ``max_sentence_chars``.
"""

from __future__ import annotations

import functools
import html
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from inference.labels.languages import (
    MAX_RULE_CHARS,
    Language,
    LanguageLike,
    _language,
    clamp_score,
)
from inference.labels.themes import colour_of

# Work on at most this much of any input string: a label is a few words, so anything longer is
# noise, and bounding it keeps the sanitiser's regular expressions cheap on hostile input.
MAX_INPUT_CHARS = 1024
# At most this many (label, score) pairs are read by `say_objects`.
MAX_OBJECTS = 256

_BLOCK = re.compile(r"<(script|style)\b[^<>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^<>]*>")
_TRANSLATE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "_": " "})
_EDGE = "-'"


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
        # The loaded base (same folders as this language) when there is one.
        via = friendly_name(key, language.fallback or language.base)
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
    for length in range(min(len(text), MAX_RULE_CHARS), 0, -1):
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
    for length in range(min(len(lower), MAX_RULE_CHARS), 0, -1):
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


# --------------------------------------------------------------------------- the hunt game


@dataclass(frozen=True)
class HuntPhrases:
    """Everything the hunt game says about one detector word, in one language: a hunt holds the
    detector's (English) words, the child hears and reads these."""

    word: str  # the detector's word ("frying pan")
    name: str  # the spoken name ("poêle")
    prompt: str  # "Tu peux trouver une poêle ?"
    found: str  # "Tu as trouvé une poêle !"
    hint: str  # "Ça commence par P."
    colour_hint: str  # "C'est jaune." for a theme word with a colour, else ""


def hunt_phrases(word: str, lang: LanguageLike = "en") -> HuntPhrases:
    """The hunt game's phrases for a detector word (its spoken name looked up first); an
    unusable word gives empty phrases."""
    language = _language(lang)
    name = friendly_name(word, language)
    return HuntPhrases(
        word=clean_label(word, max_chars=language.max_word_chars),
        name=name,
        prompt=hunt_prompt(name, language),
        found=found_phrase(name, language),
        hint=first_letter_hint(name, language),
        colour_hint=colour_hint(word, language),
    )


def hunt_prompt(name: str, lang: LanguageLike = "en") -> str:
    """The hunt game's question for a spoken name: "Can you find a cat?", "Tu peux trouver une
    fraise ?". It uses the same article as "That's a cat!" so a child hears one word for one
    thing. `name` is a spoken name (see `friendly_name`); "" → ""."""
    language = _language(lang)
    return _with_thing(language.hunt, name, language)


def found_phrase(name: str, lang: LanguageLike = "en") -> str:
    """The hunt game's cheer for a spoken name: "You found a cat!", "¡Encontraste un plátano!".
    "" → ""."""
    language = _language(lang)
    return _with_thing(language.found, name, language)


def first_letter(name: str, lang: LanguageLike = "en") -> str:
    """The first letter of a spoken name as a capital ("fraise" → "F", "éléphant" → "É"): the
    letter a child sees written, so it comes from the translated name, not the detector word.
    No letter (digits only, "") → ""."""
    language = _language(lang)
    cleaned = clean_label(name, max_chars=language.max_word_chars, lower=False)
    for ch in cleaned:
        if unicodedata.category(ch)[0] == "L":
            return ch.upper()
    return ""


def first_letter_hint(name: str, lang: LanguageLike = "en") -> str:
    """A hint when a child is stuck: "It starts with C.", "Ça commence par F.". "" → ""."""
    language = _language(lang)
    letter = first_letter(name, language)
    if not letter:
        return ""
    return _cut(language.hint.replace("{letter}", letter), language.max_sentence_chars)


def class_found_phrase(phone: str, word: str, lang: LanguageLike = "en") -> str:
    """The class screen's news of a class hunt's find: "Table 3 found a banana!", "Table 3 a
    trouvé une banane !". `phone` is the phone's display name, `word` the detector's word."""
    language = _language(lang)
    template = language.class_found.replace("{name}", phone)
    return _with_thing(template, friendly_name(word, language), language)


def colour_hint(word: str, lang: LanguageLike = "en") -> str:
    """The hunt's second hint for a detector word a theme gives a colour: "It is yellow.", "Es
    de color amarillo."; "" for a word without one."""
    language = _language(lang)
    colour = colour_of(clean_label(word, max_chars=language.max_word_chars))
    if colour is None:
        return ""
    said = language.colours.get(colour) or colour
    return _cut(language.colour_hint.replace("{colour}", said), language.max_sentence_chars)


def _with_thing(template: str, name: str, language: Language) -> str:
    thing = with_article(name, language)
    if not thing:
        return ""
    return _cut(template.replace("{thing}", thing), language.max_sentence_chars)
