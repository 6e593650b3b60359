"""Language files as data: the schema rejects broken files with a clear message, a fourth
language is added by writing a file into a folder (no code), the cache never hides a new folder,
and the page's catalogue is plain JSON."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from inference.labels.catalogue import CATALOGUE_VERSION, language_menu, page_catalogue
from inference.labels.languages import (
    LANGUAGES_DIR_ENV,
    LanguageDataError,
    UnknownLanguageError,
    available_languages,
    check_language_data,
    clear_language_cache,
    load_language,
)
from inference.labels.phrases import (
    count_phrase,
    first_letter_hint,
    found_phrase,
    friendly_name,
    hunt_prompt,
    say_objects,
    with_article,
)
from inference.labels.themes import theme_names


@pytest.fixture(autouse=True)
def _no_extra_folders(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from the shipped languages only, whatever the environment says."""
    monkeypatch.delenv(LANGUAGES_DIR_ENV, raising=False)
    yield
    clear_language_cache()


def _shipped(code: str) -> dict[str, Any]:
    path = resources.files("inference.labels") / "data" / f"{code}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _german() -> dict[str, Any]:
    """A small test-only German file, written the way a teacher would: English's file with
    the words changed. Nothing in the code knows German."""
    data = copy.deepcopy(_shipped("en"))
    data.update(
        code="de",
        name="Deutsch",
        complete=False,
        status="test only: three words",
        base="en",
        names={"cat": "Katze", "dog": "Hund", "strawberry": "Erdbeere"},
        nouns={"katze": {"gender": "f"}, "hund": {"gender": "m"}, "erdbeere": {"gender": "f"}},
        numbers={"2": "zwei", "3": "drei"},
        list={"separator": ", ", "last": " und ", "more": "mehr"},
    )
    data["templates"].update(
        one={"high": "Das ist {thing}!", "medium": "Vielleicht {thing}.", "low": "{thing}?"},
        many={"high": "Ich sehe {things}!", "medium": "Vielleicht {things}.", "low": "{things}?"},
        hunt="Kannst du {thing} finden?",
        found="Du hast {thing} gefunden!",
        hint="Es fängt mit {letter} an.",
    )
    data["articles"] = {
        "default": "ein",
        "by_gender": {"m": "ein", "f": "eine", "n": "ein"},
        "prefixes": {},
        "acronym_prefixes": {},
    }
    data["plurals"] = {
        "head": "last",
        "head_before": [],
        "default_suffix": "e",
        "irregular": {},
        "suffixes": {"e": "en"},
    }
    data["page"] = {key: f"[de] {text}" for key, text in data["page"].items() if key[0] != "_"}
    data["page"]["find_it"] = "Finde es!"
    data["theme_titles"] = {"animals": "Tiere"}
    return data


def _write(folder: Path, data: dict[str, Any], code: str | None = None) -> Path:
    path = folder / f"{code or data['code']}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the schema


@pytest.mark.parametrize("code", ["en", "fr", "es"])
def test_shipped_files_match_the_schema(code: str) -> None:
    check_language_data(_shipped(code), f"{code}.json")


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [
        (lambda d: d.pop("page"), "$", "'page' is a required property"),
        (lambda d: d["templates"].pop("hunt"), "$.templates", "'hunt' is a required property"),
        (lambda d: d["page"].pop("skip"), "$.page", "'skip' is a required property"),
        (lambda d: d["page"].update(dance="Dance"), "$.page", "unknown keys ['dance']"),
        (lambda d: d["page"].update(skip=3), "$.page.skip", "3 is not of type 'string'"),
        (lambda d: d["page"].update(skip="<b>Skip</b>"), "$.page.skip", "without < or >"),
        (lambda d: d["page"].update(skip=""), "$.page.skip", "should be non-empty"),
        (lambda d: d.update(complete="yes"), "$.complete", "'yes' is not of type 'boolean'"),
        (lambda d: d["names"].update(cat=3), "$.names.cat", "3 is not of type 'string'"),
        (
            lambda d: d["templates"].update(hunt="Find it!"),
            "$.templates.hunt",
            "'Find it!' needs {thing}",
        ),
        (
            lambda d: d["templates"].update(hint="Look!"),
            "$.templates.hint",
            "'Look!' needs {letter}",
        ),
        (
            lambda d: d["templates"]["one"].update(high="Hi"),
            "$.templates.one.high",
            "'Hi' needs {thing}",
        ),
        (
            lambda d: d["nouns"].update(cat={"colour": "grey"}),
            "$.nouns.cat",
            "unknown keys ['colour']",
        ),
        (lambda d: d["plurals"].update(head="middle"), "$.plurals.head", "'middle'"),
        (lambda d: d["limits"].update(max_kinds=0), "$.limits.max_kinds", "less than"),
        (lambda d: d.update(code="EN"), "$.code", "'EN' must be a lowercase language code"),
        (lambda d: d.update(colour="blue"), "$", "unknown keys ['colour']"),
        (lambda d: d["numbers"].update(two="zwei"), "$.numbers", "'two' is not a number"),
        (lambda d: d["templates"].update(count="{plural}"), "$.templates.count", "needs {number}"),
    ],
)
def test_schema_rejects_broken_files_with_a_clear_message(
    change: Callable[[dict[str, Any]], object], where: str, problem: str
) -> None:
    data = _shipped("en")
    change(data)
    with pytest.raises(LanguageDataError) as error:
        check_language_data(data, "xx.json")
    message = str(error.value)
    assert message.startswith(f"xx.json: at {where}: "), message
    assert problem in message, message


def test_schema_messages_stay_short() -> None:
    data = _shipped("en")
    data["names"] = ["x" * 100] * 50
    with pytest.raises(LanguageDataError) as error:
        check_language_data(data, "xx.json")
    assert len(str(error.value)) < 400


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["templates"].pop("found"), "at $.templates: 'found' is a required property"),
        (lambda d: d.update(name=["Deutsch"]), "at $.name: ['Deutsch'] is not of type 'string'"),
        (lambda d: d["confidence"].update(medium=0.9, high=0.5), "medium <= high"),  # no schema
        (lambda d: d["nouns"].update(hund={"gender": "x"}), "has no article"),
        (lambda d: d.update(code="fr"), "'code' is 'fr', expected 'de'"),
        (lambda d: d.update(base="xx"), "base language 'xx': no phrasing data"),
        (lambda d: d.update(base="de"), "'base' languages form a cycle: de -> de"),
    ],
)
def test_loading_a_broken_file_names_the_file(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    data = _german()
    change(data)
    _write(tmp_path, data, "de")
    with pytest.raises(LanguageDataError) as error:
        load_language("de", folder=tmp_path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path}/de.json: "), message
    assert problem in message, message


def test_bases_that_form_a_cycle_are_refused(tmp_path: Path) -> None:
    first, second = _german(), _german()
    first.update(code="de", base="nds")
    second.update(code="nds", base="de")
    _write(tmp_path, first)
    _write(tmp_path, second)
    with pytest.raises(LanguageDataError, match="cycle: de -> nds -> de"):
        load_language("de", folder=tmp_path)


@pytest.mark.parametrize("content", ["{not json", "\udcff", ""])
def test_unreadable_files_are_data_errors(tmp_path: Path, content: str) -> None:
    (tmp_path / "de.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(LanguageDataError, match=r"de\.json: cannot read"):
        load_language("de", folder=tmp_path)


# --------------------------------------------------------------------------- a fourth language


def test_a_fourth_language_is_a_data_file(tmp_path: Path) -> None:
    assert "de" not in available_languages()
    _write(tmp_path, _german())
    assert available_languages(tmp_path) == ("de", "en", "es", "fr")
    german = load_language("DE", folder=tmp_path)
    assert german.code == "de" and german.name == "Deutsch" and not german.complete
    assert german.fallback is load_language("en", folder=tmp_path)
    assert say_objects([("cat", 0.9)], german) == "Das ist eine Katze!"
    assert say_objects([("cat", 0.9), ("cat", 0.9)], german) == "Ich sehe zwei Katzen!"
    assert count_phrase("Hund", 3, german) == "drei Hunde"
    assert hunt_prompt(friendly_name("strawberry", german), german) == (
        "Kannst du eine Erdbeere finden?"
    )
    assert found_phrase("Katze", german) == "Du hast eine Katze gefunden!"
    assert first_letter_hint("Erdbeere", german) == "Es fängt mit E an."
    assert german.page_words["find_it"] == "Finde es!"
    # Words it does not name pass through its base: "cell phone" -> English "phone".
    assert friendly_name("cell phone", german) == "phone"


def test_a_fourth_language_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, _german())
    with pytest.raises(UnknownLanguageError, match=r"available: en, es, fr$"):
        load_language("de")
    monkeypatch.setenv(
        LANGUAGES_DIR_ENV, os.pathsep.join([str(tmp_path / "missing"), str(tmp_path)])
    )
    assert "de" in available_languages()
    # Plain codes work everywhere a code is taken, with no change to any code.
    assert say_objects([("strawberry", 0.9)], "de") == "Das ist eine Erdbeere!"
    assert with_article("Hund", "de") == "ein Hund"
    assert page_catalogue("de")["themes"][0]["title"] == "Tiere"
    assert [entry["code"] for entry in language_menu()] == ["de", "en", "es", "fr"]


def test_an_extra_folder_can_correct_a_shipped_language(tmp_path: Path) -> None:
    french = _shipped("fr")
    french["names"]["cat"] = "minou"
    _write(tmp_path, french)
    assert (
        say_objects([("cat", 0.9)], load_language("fr", folder=tmp_path)) == "C'est un minou\u00a0!"
    )
    assert friendly_name("cat", "fr") == "chat"  # the shipped file, without the folder


def test_the_cache_is_keyed_on_the_folder(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _write(first, _german())
    german = _german()
    german["names"]["cat"] = "Mieze"
    _write(second, german)
    assert friendly_name("cat", load_language("de", folder=first)) == "Katze"
    assert friendly_name("cat", load_language("de", folder=second)) == "Mieze"
    assert load_language("de", folder=first) is load_language("de", folder=first)


def test_clearing_the_cache_reads_a_changed_file_again(tmp_path: Path) -> None:
    path = _write(tmp_path, _german())
    assert load_language("de", folder=tmp_path).page_words["find_it"] == "Finde es!"
    german = _german()
    german["page"]["find_it"] = "Such es!"
    path.write_text(json.dumps(german), encoding="utf-8")
    assert load_language("de", folder=tmp_path).page_words["find_it"] == "Finde es!"  # cached
    clear_language_cache()
    assert load_language("de", folder=tmp_path).page_words["find_it"] == "Such es!"


def test_files_that_are_not_languages_are_not_listed(tmp_path: Path) -> None:
    for name in ("notes.json", "DE.json", "de.txt", "language.schema.json", "x.json"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert available_languages(tmp_path) == available_languages()
    assert available_languages(tmp_path / "missing") == available_languages()


def test_a_broken_language_is_left_out_of_the_menu(tmp_path: Path) -> None:
    (tmp_path / "de.json").write_text("{}", encoding="utf-8")
    assert [entry["code"] for entry in language_menu(tmp_path)] == ["en", "es", "fr"]


# --------------------------------------------------------------------------- the page catalogue


@pytest.mark.parametrize("code", ["en", "fr", "es"])
def test_page_catalogue_is_plain_json(code: str) -> None:
    catalogue = page_catalogue(code)
    assert json.loads(json.dumps(catalogue)) == catalogue
    assert catalogue["version"] == CATALOGUE_VERSION
    assert catalogue["code"] == code
    assert catalogue["page"] == dict(load_language(code).page_words)
    assert [theme["name"] for theme in catalogue["themes"]] == list(theme_names())
    assert set(catalogue["templates"]) >= {"one", "many", "hunt", "found", "hint", "numbers"}
    for theme in catalogue["themes"]:
        assert theme["title"]
        for entry in theme["words"]:
            assert set(entry) == {"word", "name", "thing", "plural", "letter"}
            assert all(entry.values()), entry


def test_page_catalogue_translates_theme_words() -> None:
    fruit = next(t for t in page_catalogue("es")["themes"] if t["name"] == "fruit")
    assert fruit["title"] == "Frutas"
    banana = next(word for word in fruit["words"] if word["word"] == "banana")
    assert banana == {
        "word": "banana",
        "name": "plátano",
        "thing": "un plátano",
        "plural": "plátanos",
        "letter": "P",
    }
    french = page_catalogue("fr")
    assert french["templates"]["hunt"] == "Tu peux trouver {thing}\u00a0?"
    assert french["page"]["find_it"] == "Cherche et trouve\u00a0!"


def test_page_catalogue_is_a_fresh_dict() -> None:
    page_catalogue("en")["page"]["skip"] = "changed"
    assert page_catalogue("en")["page"]["skip"] == "Skip"
