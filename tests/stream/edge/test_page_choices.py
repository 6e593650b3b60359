"""`GET /api/choices`: the pages' themes and limits come from the server's own definitions
(the engine's themes, the vocabulary parser's, the protocol's and the rooms' limits)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import inference.labels
from inference.labels.languages import LANGUAGES_DIR_ENV
from inference.labels.themes import theme_names
from inference.labels.vocabulary import DEFAULT_MAX_WORD_CHARS, DEFAULT_MAX_WORDS
from stream.app import ServerConfig, create_app
from stream.classroom.live_room import MAX_NAME_CHARS
from stream.classroom.room_store import CODE_ALPHABET, CODE_LENGTH
from stream.edge.page_choices import CHOICES_PATH, describe_choices
from stream.webrtc.protocol import MAX_WORDS_CHARS
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving


class ExtraThemeEngine(FakeEngine):
    @property
    def themes(self) -> tuple[str, ...]:
        return ("animals", "space")


def test_the_app_answers_with_the_engines_themes_and_the_servers_limits() -> None:
    async def scenario() -> dict[str, Any]:
        app = create_app(ServerConfig(), engine=ExtraThemeEngine(delay_s=0.05))
        async with (
            serving(app) as base,
            aiohttp.ClientSession() as http,
            http.get(f"{base}{CHOICES_PATH}") as response,
        ):
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            body: dict[str, Any] = await response.json()
            return body

    body = asyncio.run(scenario())
    assert body["themes"] == [
        {"name": "animals", "title": "Animals"},  # a packaged theme: its file's title
        {"name": "space", "title": "Space"},  # another: its name, capitalised
    ]
    assert body["limits"] == {
        "max_words": DEFAULT_MAX_WORDS,
        "max_word_chars": DEFAULT_MAX_WORD_CHARS,
        "max_words_chars": MAX_WORDS_CHARS,
        "max_name_chars": MAX_NAME_CHARS,
        "code_length": CODE_LENGTH,
        "code_alphabet": CODE_ALPHABET,
    }


def test_before_the_engine_is_loaded_the_packaged_themes_are_offered() -> None:
    body = describe_choices(None, {"max_name_chars": 24})
    assert [theme["name"] for theme in body["themes"]] == list(theme_names())
    assert {"name": "kitchen", "title": "Kitchen"} in body["themes"]
    assert body["limits"]["max_name_chars"] == 24
    assert describe_choices((), {})["themes"] == []


def test_the_languages_on_offer_are_the_language_files_each_named_in_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = describe_choices(None, {})
    assert body["languages"][:3] == [
        {"code": "en", "name": "English"},
        {"code": "es", "name": "Español"},
        {"code": "fr", "name": "Français"},
    ]
    # a school's own language file joins the menu without any code
    english = json.loads((Path(inference.labels.__file__).parent / "data" / "en.json").read_text())
    (tmp_path / "nl.json").write_text(
        json.dumps({**english, "code": "nl", "name": "Nederlands", "base": "en"}), "utf-8"
    )
    monkeypatch.setenv(LANGUAGES_DIR_ENV, str(tmp_path))
    assert {"code": "nl", "name": "Nederlands"} in describe_choices(None, {})["languages"]
