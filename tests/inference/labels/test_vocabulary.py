"""parse_vocabulary: what a user types → clean, ordered, deduplicated words (or a clear error)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from inference.labels.vocabulary import EMPTY_MESSAGE, VocabularyError, clean_word, parse_vocabulary


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # splitting
        ("cat, cup", ("cat", "cup")),
        ("cat;cup ;  ball", ("cat", "cup", "ball")),
        ("cat\ncup\r\nball\n", ("cat", "cup", "ball")),
        ("cat . cup .", ("cat", "cup")),
        ("a cat. a dog.", ("a cat", "a dog")),
        (["cat", "cup, ball"], ("cat", "cup", "ball")),
        (("teddy bear",), ("teddy bear",)),
        # case and whitespace
        ("  Teddy   BEAR\t ", ("teddy bear",)),
        ("CAT, Cat, cat", ("cat",)),
        # dedupe keeps the first position
        ("cup, cat, cup, ball, cat", ("cup", "cat", "ball")),
        (["Cup", "cup ", " CUP"], ("cup",)),
        # markup and disallowed characters
        ("<b>cat</b>, <i>cup</i>", ("cat", "cup")),
        ("&lt;b&gt;cat&lt;/b&gt;", ("cat",)),
        ('<span style="x">teddy bear</span>', ("teddy bear",)),
        ("cat!!, cup?, (ball), [dog]", ("cat", "cup", "ball", "dog")),
        ("hot-dog, don't, don’t", ("hot-dog", "don't")),
        ("cell_phone", ("cell phone",)),
        ("-cat-, 'cup'", ("cat", "cup")),
        ("3.5 kg, 7up", ("35 kg", "7up")),
        ("cat 🐱, 🐶", ("cat",)),
        # unicode letters
        ("Café, ÇA", ("café", "ça")),
        ("Ｃａｔ", ("cat",)),  # full-width letters from a phone keyboard
        ("犬, 猫", ("犬", "猫")),
        ("Кошка, Hund", ("кошка", "hund")),
        ("हिन्दी", ("हिन्दी",)),
    ],
)
def test_parse_vocabulary(given: str | Sequence[str], expected: tuple[str, ...]) -> None:
    assert parse_vocabulary(given) == expected


@pytest.mark.parametrize(
    "given", ["", "   ", ",;\n", " . . ", [], ["", " "], "<b></b>", "!!! ???", "--"]
)
def test_empty_vocabulary_is_a_clear_error(given: str | Sequence[str]) -> None:
    with pytest.raises(VocabularyError) as error:
        parse_vocabulary(given)
    assert str(error.value) == EMPTY_MESSAGE
    assert "cat, cup" in str(error.value)


@pytest.mark.parametrize(
    ("given", "kwargs", "match"),
    [
        (", ".join(f"w{i}" for i in range(33)), {}, r"too many words \(33\).*at most 32"),
        ("a, b, c", {"max_words": 2}, r"too many words \(3\).*at most 2"),
        ("x" * 41, {}, r"too long \(41 characters, at most 40\)"),
        ("cat, elephant", {"max_word_chars": 5}, r"'elephant' is too long"),
        ("y" * 20000, {}, r"vocabulary text is too long"),
        ([1, 2], {}, r"words must be text, got int"),
        (42, {}, r"must be text or a list of words, got int"),
    ],
)
def test_too_long_too_many_or_wrong_type(given: object, kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(VocabularyError, match=match):
        parse_vocabulary(given, **kwargs)  # type: ignore[arg-type]


def test_limits_are_inclusive() -> None:
    words = [f"w{i}" for i in range(32)]
    assert parse_vocabulary(words) == tuple(words)
    assert parse_vocabulary("x" * 40) == ("x" * 40,)


def test_vocabulary_error_is_a_value_error() -> None:
    assert issubclass(VocabularyError, ValueError)


def test_clean_word_is_idempotent() -> None:
    for word in ("teddy bear", "hot-dog", "don't", "café", "犬"):
        assert clean_word(word) == word
        assert parse_vocabulary(parse_vocabulary(word)) == (word,)
