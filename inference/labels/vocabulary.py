"""What to look for: turn a user's words ("Cat, cup; <b>teddy bear</b>") into a clean vocabulary.

The detector builds its caption ("cat . cup . teddy bear .") from these words, so every word is
plain lowercase text: letters (any script), digits, spaces, hyphens and apostrophes only. The
caption separators ('.', '?') can therefore never appear inside a word.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

DEFAULT_MAX_WORDS = 32
DEFAULT_MAX_WORD_CHARS = 40
# Far above any sensible list (and above a data-channel message); refuse before doing any work.
MAX_INPUT_CHARS = 16384

EMPTY_MESSAGE = 'vocabulary is empty: name at least one thing to find, e.g. "cat, cup"'

_TAG = re.compile(r"<[^<>]{0,200}>")
# Commas, semicolons and line breaks; a full stop that ends a phrase ("cat. cup." / "cat . cup .").
_SEPARATOR = re.compile(r"[,;\r\n\u2028\u2029]+|\.(?=\s|$)")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "_": " "})
_EDGE_PUNCTUATION = "-' "


class VocabularyError(ValueError):
    """The vocabulary cannot be used; the message says why in words a user understands."""


def parse_vocabulary(
    words: str | Sequence[str],
    *,
    max_words: int = DEFAULT_MAX_WORDS,
    max_word_chars: int = DEFAULT_MAX_WORD_CHARS,
) -> tuple[str, ...]:
    """Clean a vocabulary given as one string or as a sequence of strings.

    A string is split on commas, semicolons, line breaks and phrase-ending full stops
    ("cat . cup ."); each item of a sequence is split the same way. Every word is then
    NFKC-normalised, HTML-unescaped, stripped of markup tags, lowercased, reduced to letters,
    digits, spaces, hyphens and apostrophes (an underscore counts as a space), whitespace
    collapsed. Empty words are dropped and duplicates removed, keeping the first occurrence.

    Returns the words in order. Raises `VocabularyError` when nothing is left, when there are
    more than `max_words` words, or when a word is longer than `max_word_chars` characters.
    """
    if max_words < 1 or max_word_chars < 1:
        raise ValueError("max_words and max_word_chars must be at least 1")
    if isinstance(words, str):
        items: Sequence[str] = (words,)
    elif isinstance(words, Sequence):
        items = words
    else:
        raise VocabularyError(
            f"vocabulary must be text or a list of words, got {type(words).__name__}"
        )
    total = 0
    for item in items:
        if not isinstance(item, str):
            raise VocabularyError(f"vocabulary words must be text, got {type(item).__name__}")
        total += len(item)
    if total > MAX_INPUT_CHARS:
        raise VocabularyError(
            f"vocabulary text is too long ({total} characters, at most {MAX_INPUT_CHARS})"
        )

    cleaned: dict[str, None] = {}  # insertion-ordered set
    for item in items:
        text = _TAG.sub(" ", html.unescape(unicodedata.normalize("NFKC", item)))
        for piece in _SEPARATOR.split(text):
            word = clean_word(piece)
            if word:
                cleaned.setdefault(word, None)

    result = tuple(cleaned)
    if not result:
        raise VocabularyError(EMPTY_MESSAGE)
    if len(result) > max_words:
        raise VocabularyError(
            f"vocabulary has too many words ({len(result)}); name at most {max_words} things"
        )
    for word in result:
        if len(word) > max_word_chars:
            shown = word if len(word) <= 60 else word[:57] + "..."
            raise VocabularyError(
                f"vocabulary word {shown!r} is too long ({len(word)} characters, "
                f"at most {max_word_chars})"
            )
    return result


def clean_word(text: str) -> str:
    """One word or phrase: lowercase, allowed characters only, single spaces, trimmed."""
    text = text.translate(_APOSTROPHES).lower()
    kept = "".join(ch if _allowed(ch) else (" " if ch.isspace() else "") for ch in text)
    word = _SPACES.sub(" ", kept).strip(_EDGE_PUNCTUATION)
    # A word needs at least one letter or digit ("--" or a lone accent is not a word).
    return word if any(unicodedata.category(ch)[0] == "L" or ch.isdecimal() for ch in word) else ""


def _allowed(ch: str) -> bool:
    if ch in " -'":
        return True
    category = unicodedata.category(ch)
    # L*: letters of any script; Nd: decimal digits. Combining marks (M*) are kept too, so
    # scripts that write vowels as marks (Devanagari, Thai …) survive NFKC intact.
    return category[0] in ("L", "M") or category == "Nd"
