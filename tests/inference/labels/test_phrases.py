"""Phrasing tables: articles, plurals, counts, friendly names, confidence, several objects,
unknown words and hostile input, in English and French (Spanish: test_translations.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import pytest

from inference.labels import languages as languages_module
from inference.labels.languages import (
    Language,
    UnknownLanguageError,
    available_languages,
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
from inference.labels.themes import load_theme, theme_names
from tests.support.coco import COCO_CLASSES


def test_coco_list_is_complete() -> None:
    assert len(COCO_CLASSES) == 80
    assert len(set(COCO_CLASSES)) == 80


# --------------------------------------------------------------------------- articles


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cat", "a cat"),
        ("apple", "an apple"),
        ("umbrella", "an umbrella"),
        ("orange", "an orange"),
        ("egg", "an egg"),
        ("igloo", "an igloo"),
        ("owl", "an owl"),
        ("onion", "an onion"),
        ("elephant", "an elephant"),
        # vowel letter, consonant sound
        ("unicorn", "a unicorn"),
        ("university", "a university"),
        ("uniform", "a uniform"),
        ("ukulele", "a ukulele"),
        ("utensil", "a utensil"),
        ("usb", "a usb"),
        ("one", "a one"),
        ("European", "a European"),
        ("ewe", "a ewe"),
        ("u-turn", "a u-turn"),
        # un- words that do start with a vowel sound
        ("uninvited guest", "an uninvited guest"),
        ("unidentified object", "an unidentified object"),
        # silent h
        ("hour", "an hour"),
        ("hourglass", "an hourglass"),
        ("honest answer", "an honest answer"),
        ("heir", "an heir"),
        ("horse", "a horse"),
        ("honey", "a honey"),
        # letters and digits read aloud
        ("x-ray", "an x-ray"),
        ("TV", "a TV"),
        ("LED", "an LED"),
        ("MP3 player", "an MP3 player"),
        ("UFO", "a UFO"),
        ("8-ball", "an 8-ball"),
        ("11-sided die", "an 11-sided die"),
        ("yak", "a yak"),
        # nouns with their own article
        ("scissors", "a pair of scissors"),
        ("skis", "a pair of skis"),
        ("grapes", "a bunch of grapes"),
        ("broccoli", "broccoli"),
        ("paper", "paper"),
        # compound names take the article of their first word
        ("teddy bear", "a teddy bear"),
        ("ice cream cone", "an ice cream cone"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_with_article(name: str, expected: str) -> None:
    assert with_article(name) == expected


# --------------------------------------------------------------------------- plurals


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cat", "cats"),
        ("apple", "apples"),
        ("mouse", "mice"),
        ("person", "people"),
        ("sheep", "sheep"),
        ("knife", "knives"),
        ("leaf", "leaves"),
        ("wolf", "wolves"),
        ("child", "children"),
        ("fish", "fish"),
        ("goldfish", "goldfish"),
        ("tooth", "teeth"),
        ("toothbrush", "toothbrushes"),
        ("foot", "feet"),
        ("goose", "geese"),
        ("mongoose", "mongooses"),
        ("moose", "moose"),
        ("deer", "deer"),
        ("box", "boxes"),
        ("fox", "foxes"),
        ("ox", "oxen"),
        ("bus", "buses"),
        ("glass", "glasses"),
        ("watch", "watches"),
        ("dish", "dishes"),
        ("strawberry", "strawberries"),
        ("cherry", "cherries"),
        ("butterfly", "butterflies"),
        ("toy", "toys"),
        ("monkey", "monkeys"),
        ("tray", "trays"),
        ("guy", "guys"),
        ("potato", "potatoes"),
        ("tomato", "tomatoes"),
        ("mango", "mangoes"),
        ("piano", "pianos"),
        ("photo", "photos"),
        ("kangaroo", "kangaroos"),
        ("woman", "women"),
        ("snowman", "snowmen"),
        ("human", "humans"),
        ("giraffe", "giraffes"),
        ("roof", "roofs"),
        ("cactus", "cacti"),
        ("quiz", "quizzes"),
        # compounds pluralise their head word
        ("teddy bear", "teddy bears"),
        ("toy mouse", "toy mice"),
        ("wine glass", "wine glasses"),
        ("hot dog", "hot dogs"),
        ("cup of tea", "cups of tea"),
        ("pair of scissors", "pairs of scissors"),
        # whole-phrase overrides
        ("scissors", "pairs of scissors"),
        ("grapes", "bunches of grapes"),
        ("TV", "TVs"),
        ("", ""),
    ],
)
def test_plural(name: str, expected: str) -> None:
    assert plural(name) == expected


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(
    ("name", "n", "expected"),
    [
        ("cat", 1, "a cat"),
        ("apple", 1, "an apple"),
        ("cat", 2, "two cats"),
        ("cat", 3, "three cats"),
        ("cat", 7, "seven cats"),
        ("cat", 11, "eleven cats"),
        ("cat", 12, "twelve cats"),
        ("cat", 13, "13 cats"),
        ("cat", 100, "100 cats"),
        ("mouse", 3, "three mice"),
        ("sheep", 5, "five sheep"),
        ("strawberry", 4, "four strawberries"),
        ("scissors", 2, "two pairs of scissors"),
        ("teddy bear", 2, "two teddy bears"),
        ("cat", 0, ""),
        ("cat", -3, ""),
        ("", 2, ""),
    ],
)
def test_count_phrase(name: str, n: int, expected: str) -> None:
    assert count_phrase(name, n) == expected


# --------------------------------------------------------------------------- friendly names


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("cell phone", "phone"),
        ("potted plant", "plant"),
        ("dining table", "table"),
        ("tv", "TV"),
        ("hair drier", "hair dryer"),
        ("sports ball", "ball"),
        ("wine glass", "glass"),
        ("remote", "remote control"),
        ("couch", "sofa"),
        ("refrigerator", "fridge"),
        ("motorcycle", "motorbike"),
        ("airplane", "plane"),
        ("bicycle", "bike"),
        ("handbag", "bag"),
        ("toy block", "block"),
        # unchanged words
        ("cat", "cat"),
        ("teddy bear", "teddy bear"),
        ("laptop", "laptop"),
        ("mouse", "mouse"),
        # what users type: case, spacing, underscores, markup
        ("Cell Phone", "phone"),
        ("  cell   phone ", "phone"),
        ("cell_phone", "phone"),
        ("<b>couch</b>", "sofa"),
        ("TV", "TV"),
    ],
)
def test_friendly_name(word: str, expected: str) -> None:
    assert friendly_name(word) == expected


@pytest.mark.parametrize("word", COCO_CLASSES)
def test_every_coco_class_is_sayable(word: str) -> None:
    name = friendly_name(word)
    assert name and len(name) <= 40
    assert say_objects([(word, 0.9)]).startswith("That's ")
    assert count_phrase(name, 2).startswith("two ")


# --------------------------------------------------------------------------- confidence


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.95, "That's a cat!"),
        (0.5, "That's a cat!"),  # band edges belong to the higher band
        (0.49, "I think that's a cat."),
        (0.35, "I think that's a cat."),
        (0.34, "Is that a cat?"),
        (0.1, "Is that a cat?"),
        (1.7, "That's a cat!"),  # clamped
        (-1.0, "Is that a cat?"),
        (math.nan, "Is that a cat?"),  # unusable scores count as 0
        (math.inf, "Is that a cat?"),
    ],
)
def test_confidence_wording(score: float, expected: str) -> None:
    assert say_objects([("cat", score)]) == expected


@pytest.mark.parametrize(
    ("label", "score", "expected"),
    [
        ("cat", 0.9, "cat"),
        ("cat", 0.4, "cat"),
        ("cat", 0.2, "cat?"),
        ("cell phone", 0.9, "phone"),
        ("tv", 0.9, "TV"),
        ("<i>dog</i>", 0.9, "dog"),
        ("", 0.9, ""),
        ("<script>alert(1)</script>", 0.9, ""),
    ],
)
def test_describe_object(label: str, score: float, expected: str) -> None:
    assert describe_object(label, score) == expected


# --------------------------------------------------------------------------- several objects


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ([("cat", 0.9), ("dog", 0.8)], "I see a cat and a dog!"),
        ([("cat", 0.9), ("cat", 0.8)], "I see two cats!"),
        ([("cat", 0.9), ("cat", 0.9), ("cat", 0.9)], "I see three cats!"),
        (
            [("apple", 0.9), ("banana", 0.9), ("orange", 0.9)],
            "I see an apple, a banana and an orange!",
        ),
        (
            [("cat", 0.9), ("dog", 0.8), ("cat", 0.7), ("cell phone", 0.95)],
            "I see a phone, two cats and a dog!",  # ordered by best score
        ),
        (
            [("cup", 0.9), ("fork", 0.9), ("spoon", 0.9), ("bowl", 0.6)],
            "I see a cup, a fork, a spoon and more!",  # at most three kinds
        ),
        ([("cat", 0.9), ("dog", 0.4)], "I think I see a cat and a dog."),  # weakest decides
        ([("cat", 0.3), ("dog", 0.2)], "Do I see a cat and a dog?"),
        ([("cat", 0.9), ("cat", 0.2)], "I see two cats!"),  # a kind counts by its best
        ([("cell phone", 0.9), ("phone", 0.9)], "I see two phones!"),  # grouped by spoken name
        ([("mouse", 0.9), ("mouse", 0.9), ("sheep", 0.8)], "I see two mice and a sheep!"),
        ([("scissors", 0.9), ("grapes", 0.9)], "I see a pair of scissors and a bunch of grapes!"),
        ([("cat", 0.9), ("", 0.9), ("<b></b>", 0.9)], "That's a cat!"),  # unusable labels skipped
        ([], ""),
        ([("", 0.9)], ""),
    ],
)
def test_say_objects(objects: list[tuple[str, float]], expected: str) -> None:
    assert say_objects(objects) == expected


def test_say_objects_accepts_any_iterable() -> None:
    assert say_objects(iter([("cat", 0.9), ("dog", 0.9)])) == "I see a cat and a dog!"
    assert say_objects((label, 0.9) for label in ["cat"]) == "That's a cat!"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], ""),
        (["a cat"], "a cat"),
        (["a cat", "a dog"], "a cat and a dog"),
        (["a cat", "a dog", "a cup"], "a cat, a dog and a cup"),
        (["a cat", "", "a cup"], "a cat and a cup"),
    ],
)
def test_join_list(items: list[str], expected: str) -> None:
    assert join_list(items) == expected


# --------------------------------------------------------------------------- unknown words


@pytest.mark.parametrize(
    ("word", "name", "article", "plural_form", "sentence"),
    [
        ("zorblax", "zorblax", "a zorblax", "zorblaxes", "That's a zorblax!"),
        ("Octarine Blob", "octarine blob", "an octarine blob", "octarine blobs", None),
        ("fidget spinner", "fidget spinner", "a fidget spinner", "fidget spinners", None),
        ("café", "café", "a café", "cafés", "That's a café!"),
        ("éclair", "éclair", "an éclair", "éclairs", None),
        ("Кошка", "кошка", "a кошка", "кошкаs", None),  # other scripts pass through intact
        ("犬", "犬", "a 犬", "犬s", "That's a 犬!"),
        ("7up can", "7up can", "a 7up can", "7up cans", None),
    ],
)
def test_unknown_words_pass_through(
    word: str, name: str, article: str, plural_form: str, sentence: str | None
) -> None:
    assert friendly_name(word) == name
    assert with_article(name) == article
    assert plural(name) == plural_form
    if sentence is not None:
        assert say_objects([(word, 0.9)]) == sentence


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    "x" * 10_000,
    "cat " * 2_500,
    "<script>alert(1)</script>",
    "cat<script>alert('hi')</script>",
    "<SCRIPT type='text/javascript'>document.cookie</SCRIPT>dog",
    "<style>body{display:none}</style>cup",
    "<img src=x onerror=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<b>cat</b><i>",
    "{thing} {things} {0} %s",
    "c\x00a\x07t\x1b[31m",
    "ca\u200bt\u200d",
    "\u202ecat\u202c",
    "🐱🐶🍎",
    "cat 🐱",
    "👨‍👩‍👧 family",
    "Ｃａｔ",
    "\n\t\r  ",
    "javascript:alert(1)",
    "' OR 1=1 --",
    "a\u0301" * 3_000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_sanitised_and_bounded(text: str) -> None:
    language = load_language("en")
    name = friendly_name(text)
    assert len(name) <= language.max_word_chars
    for output in (
        name,
        with_article(text),
        plural(text),
        count_phrase(text, 3),
        describe_object(text, 0.9),
        say_objects([(text, 0.9), (text, 0.2), ("dog", 0.9), (text + "x", 0.9)]),
    ):
        assert len(output) <= language.max_sentence_chars
        assert not any(ch in output for ch in "<>&{}%\x00\x1b\u200b\u202e;=")
        assert output == output.strip()
        assert "  " not in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script>", ""),
        ("cat<script>alert('hi')</script>", "cat"),
        ("<SCRIPT type='text/javascript'>document.cookie</SCRIPT>dog", "dog"),
        ("<style>body{display:none}</style>cup", "cup"),
        ("<img src=x onerror=alert(1)>", ""),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", ""),
        ("<b>cat</b><i>", "cat"),
        ("c\x00a\x07t", "c a t"),
        ("ca\u200bt\u200d", "cat"),
        ("🐱🐶🍎", ""),
        ("cat 🐱", "cat"),
        ("Ｃａｔ", "cat"),
        ("\n\t\r  ", ""),
        ("-cat-, 'dog'", "cat dog"),
        ("hot-dog", "hot-dog"),
        ("don’t", "don't"),
        ("x" * 10_000, "x" * 40),
        ("cat " * 2_500, " ".join(["cat"] * 10)),  # cut at a word boundary
    ],
)
def test_clean_label(text: str, expected: str) -> None:
    assert clean_label(text) == expected


@pytest.mark.parametrize("value", [None, 42, 3.5, b"cat", ["cat"], {"cat": 1}])
def test_non_text_input_gives_empty_output(value: object) -> None:
    assert clean_label(value) == ""
    assert friendly_name(value) == ""  # type: ignore[arg-type]
    assert with_article(value) == ""  # type: ignore[arg-type]
    assert plural(value) == ""  # type: ignore[arg-type]
    assert describe_object(value, 0.9) == ""  # type: ignore[arg-type]
    assert say_objects([(value, 0.9)]) == ""  # type: ignore[list-item]


def test_numpy_scores_are_numbers() -> None:
    assert say_objects([("cat", np.float32(0.9))]) == "That's a cat!"  # type: ignore[list-item]
    assert say_objects([("cat", np.float64(0.4))]) == "I think that's a cat."
    assert describe_object("cat", np.float32(0.2)) == "cat?"  # type: ignore[arg-type]


def test_malformed_object_entries_are_skipped() -> None:
    objects: list[object] = [None, ("cat",), ("dog", "high"), ("cup", 0.9, 1), 5, ("bird", 0.9)]
    # "high" is no score: it counts as 0, so the sentence asks rather than tells.
    assert say_objects(objects) == "Do I see a bird and a dog?"  # type: ignore[arg-type]


def test_sentence_length_is_capped_at_a_word_boundary() -> None:
    tight = dataclasses.replace(load_language("en"), max_sentence_chars=30)
    sentence = say_objects(
        [("cat", 0.9), ("dog", 0.9), ("cup", 0.9), ("tennis racket", 0.9)], tight
    )
    assert len(sentence) <= 30
    assert sentence == "I see a cat, a dog, a cup and"


# --------------------------------------------------------------------------- languages


def test_languages_are_listed_and_cached() -> None:
    assert {"en", "es", "fr"} <= set(available_languages())
    english = load_language("en")
    assert load_language("EN") is english
    assert english.complete
    assert load_language("fr").complete  # every theme word (test_translations.py)


@pytest.mark.parametrize("code", ["xx", "", "../en", "en/../fr", "data/en", "en.json", "e n"])
def test_unknown_language_is_a_clear_error(code: str) -> None:
    with pytest.raises(UnknownLanguageError) as error:
        load_language(code)
    assert isinstance(error.value, KeyError)
    assert "available: " in str(error.value)
    assert "en" in str(error.value)


def test_phrasing_comes_from_data() -> None:
    english = load_language("en")
    custom = dataclasses.replace(
        english,
        one={"high": "Look, {thing}!", "medium": "Maybe {thing}.", "low": "{thing}?"},
        numbers={2: "a couple of"},
        last_separator=" & ",
    )
    assert say_objects([("cat", 0.9)], custom) == "Look, a cat!"
    assert say_objects([("cat", 0.9), ("cat", 0.9), ("dog", 0.9)], custom) == (
        "I see a couple of cats & a dog!"
    )


@pytest.mark.parametrize("code", ["en", "fr", "es"])
def test_language_data_is_consistent(code: str) -> None:
    language = load_language(code)
    assert isinstance(language, Language)
    assert 0.0 <= language.medium <= language.high <= 1.0
    assert set(language.numbers) == set(range(2, 13))
    for noun in language.nouns.values():
        assert noun.gender is None or noun.gender in language.articles_by_gender
    for name in language.names.values():
        assert clean_label(name, lower=False) == name, name


# --------------------------------------------------------------------------- French


@pytest.mark.parametrize(
    ("word", "name", "article", "three"),
    [
        ("cat", "chat", "un chat", "trois chats"),
        ("apple", "pomme", "une pomme", "trois pommes"),
        ("cell phone", "téléphone", "un téléphone", "trois téléphones"),  # via English "phone"
        ("couch", "canapé", "un canapé", "trois canapés"),
        ("tv", "télé", "une télé", "trois télés"),
        ("horse", "cheval", "un cheval", "trois chevaux"),
        ("bird", "oiseau", "un oiseau", "trois oiseaux"),
        ("mouse", "souris", "une souris", "trois souris"),
        ("bear", "ours", "un ours", "trois ours"),
        ("toothbrush", "brosse à dents", "une brosse à dents", "trois brosses à dents"),
        (
            "traffic light",
            "feu de circulation",
            "un feu de circulation",
            "trois feux de circulation",
        ),
        ("kite", "cerf-volant", "un cerf-volant", "trois cerfs-volants"),
        ("scissors", "ciseaux", "une paire de ciseaux", "trois paires de ciseaux"),
        ("grapes", "raisin", "du raisin", "trois grappes de raisin"),
        ("toy car", "petite voiture", "une petite voiture", "trois petites voitures"),
        ("gizmo", "gizmo", "un gizmo", "trois gizmos"),  # unknown: passes through
    ],
)
def test_french_words(word: str, name: str, article: str, three: str) -> None:
    assert friendly_name(word, "fr") == name
    assert with_article(name, "fr") == article
    assert count_phrase(name, 3, "fr") == three


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ([("cat", 0.9)], "C'est un chat\u00a0!"),
        ([("apple", 0.4)], "Je crois que c'est une pomme."),
        ([("apple", 0.2)], "Est-ce que c'est une pomme\u00a0?"),
        ([("cat", 0.9), ("cat", 0.9), ("apple", 0.8)], "Je vois deux chats et une pomme\u00a0!"),
        (
            [("cat", 0.9), ("dog", 0.9), ("cup", 0.9), ("spoon", 0.5)],
            "Je vois un chat, un chien, une tasse et d'autres choses\u00a0!",
        ),
    ],
)
def test_french_sentences(objects: list[tuple[str, float]], expected: str) -> None:
    assert say_objects(objects, "fr") == expected


def test_french_names_cover_coco_and_themes() -> None:
    french = load_language("fr")
    words = set(COCO_CLASSES)
    for theme in theme_names():
        words.update(load_theme(theme).words)
    missing = sorted(
        word
        for word in words
        if word not in french.names and friendly_name(word, "en").lower() not in french.names
    )
    assert missing == []


# --------------------------------------------------------------------------- malformed data


def _english_data() -> dict[str, Any]:
    path = resources.files("inference.labels") / "data" / "en.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["confidence"].update(medium=0.9, high=0.5), "medium <= high"),
        (lambda d: d["templates"]["one"].update(high="That's it!"), "needs {thing}"),
        (lambda d: d["templates"]["many"].pop("low"), "'low'"),
        (lambda d: d["templates"].update(count="{plural}"), "{number}"),
        (lambda d: d["names"].update({"Cell Phone": "phone"}), "must be lowercase"),
        (lambda d: d["names"].update({"cat": 3}), "must be text"),
        (lambda d: d["nouns"].update({"cat": {"gender": "f"}}), "has no article"),
        (lambda d: d["nouns"].update({"cat": {"colour": "grey"}}), "unknown keys"),
        (lambda d: d["numbers"].update({"1": "one"}), "at least 2"),
        (lambda d: d["plurals"].update(head="middle"), "'first' or 'last'"),
        (lambda d: d["articles"]["prefixes"].update({"x" * 17: "an"}), "at most 16"),
        (lambda d: d["limits"].update(max_kinds=0), "limits"),
        (lambda d: d.pop("list"), "'list'"),
    ],
)
def test_malformed_language_data_is_rejected(
    change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    data = _english_data()
    change(data)
    with pytest.raises((KeyError, TypeError, ValueError)) as error:
        languages_module._parse(data)
    assert problem in str(error.value)


def test_english_data_parses() -> None:
    assert languages_module._parse(_english_data()).code == "en"
