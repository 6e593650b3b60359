"""Themes: the built-in vocabularies load, are well-formed, short, and speakable."""

from __future__ import annotations

from typing import Any

import pytest

from inference.labels import themes as themes_module
from inference.labels.languages import load_language
from inference.labels.phrases import friendly_name, say_objects
from inference.labels.themes import (
    THEMES,
    Theme,
    ThemeDataError,
    UnknownThemeError,
    load_theme,
    theme_names,
)
from inference.labels.vocabulary import parse_vocabulary

EXPECTED = ("animals", "classroom", "fruit", "kitchen", "toys")


def test_theme_names() -> None:
    assert set(EXPECTED) <= set(theme_names())
    assert theme_names() == THEMES
    assert list(theme_names()) == sorted(theme_names())


@pytest.mark.parametrize("name", EXPECTED)
def test_theme_is_well_formed(name: str) -> None:
    theme = load_theme(name)
    assert isinstance(theme, Theme)
    assert theme.name == name
    assert theme.title
    assert 8 <= len(theme.words) <= 20
    assert len(set(theme.words)) == len(theme.words)
    for word in theme.words:
        assert word == word.strip().lower()
        assert "  " not in word
        assert all(ch.isalnum() or ch in " -'" for ch in word), word
    assert set(theme.friendly) <= set(theme.words)


@pytest.mark.parametrize("name", EXPECTED)
def test_theme_caption_stays_short(name: str) -> None:
    theme = load_theme(name)
    # Grounding DINO reads at most 256 BERT tokens; a word is one to three tokens, a separator
    # one, so 40 words leave a wide margin.
    assert len(theme.caption.split()) - theme.caption.count(".") <= 40
    assert theme.caption == " . ".join(theme.words) + " ."
    assert len(theme.caption) < 400


@pytest.mark.parametrize("name", EXPECTED)
def test_theme_words_are_speakable_in_every_language(name: str) -> None:
    theme = load_theme(name)
    for word in theme.words:
        # The theme's friendly names agree with the English language file.
        assert theme.friendly_name(word) == friendly_name(word, "en"), word
        assert say_objects([(word, 0.9)], "en").startswith("That's ")
        assert say_objects([(word, 0.9)], "fr").startswith("C'est ")
    french = load_language("fr")
    for word in theme.words:
        spoken = friendly_name(word, "fr")
        assert spoken in french.names.values(), f"{word!r} has no French name"


@pytest.mark.parametrize("name", EXPECTED)
def test_theme_words_survive_the_vocabulary_parser(name: str) -> None:
    theme = load_theme(name)
    assert parse_vocabulary(list(theme.words)) == theme.words


def test_load_theme_is_forgiving_about_case_and_cached() -> None:
    assert load_theme("  Animals ") is load_theme("animals")
    assert hash(load_theme("fruit")) == hash(load_theme("FRUIT"))


@pytest.mark.parametrize("name", ["dinosaurs", "", "../data/en", "animals.json", "themes/animals"])
def test_unknown_theme_is_a_clear_error(name: str) -> None:
    with pytest.raises(UnknownThemeError) as error:
        load_theme(name)
    assert isinstance(error.value, LookupError)
    message = str(error.value)
    assert message.startswith("no theme called")
    for known in EXPECTED:
        assert known in message


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([], "must hold an object"),
        ({"name": "x"}, "'words'"),
        ({"name": "x", "words": []}, "non-empty"),
        ({"name": "x", "words": ["Cat"]}, "plain lowercase"),
        ({"name": "x", "words": ["cat<b>"]}, "plain lowercase"),
        ({"name": "x", "words": ["cat  dog"]}, "plain lowercase"),
        ({"name": "x", "words": ["x" * 41]}, "plain lowercase"),
        ({"name": "x", "words": ["cat", "cat"]}, "duplicates"),
        ({"name": "x", "words": [f"w{i}" for i in range(33)]}, "at most 32"),
        ({"name": "x", "words": ["cat"], "friendly": {"dog": "puppy"}}, "not one of the words"),
        ({"name": "x", "words": ["cat"], "friendly": {"cat": " "}}, "non-empty text"),
        ({"name": "x", "words": ["cat"], "friendly": []}, "must be an object"),
        ({"name": "x", "words": ["cat"], "colours": {"dog": "brown"}}, "not one of the words"),
        ({"name": "x", "words": ["cat"], "colours": {"cat": "tabby"}}, "not one of red"),
        ({"name": "x", "words": ["cat"], "colours": ["red"]}, "must be an object"),
    ],
)
def test_malformed_theme_data_is_rejected(raw: Any, problem: str) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)) as error:
        themes_module._parse(raw)
    assert problem in str(error.value)


def test_theme_data_error_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(raw: Any) -> Theme:
        raise ValueError("bad words")

    monkeypatch.setattr(themes_module, "_parse", broken)
    themes_module._load.cache_clear()
    try:
        with pytest.raises(ThemeDataError, match=r"themes/toys\.json: bad words"):
            load_theme("toys")
    finally:
        themes_module._load.cache_clear()
