"""The teacher's still preview of a phone (GET /api/rooms/CODE/phones/ID/preview.jpg), tried
from the attacker's side: only the room's teacher sees it (another teacher 404, as a missing
room; nobody logged in 401), it is the phone's camera now, small, and nothing is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import cv2
import numpy as np

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.photos.library_settings import PhotoLibrarySettings
from tests.support.fake_engine import FakeEngine
from tests.support.rooms import WAIT_S
from tests.support.rtc_client import Client, photo, serving
from tests.support.teachers import log_in, post_json, teacher_store


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with http.get(url) as response:
        return response.status, response.headers.get("Cache-Control", ""), await response.read()


def test_only_the_rooms_teacher_sees_a_phones_preview(tmp_path: Path) -> None:
    store = teacher_store(tmp_path / "teachers.json", lee="correct horse", kim="battery staple")
    config = ServerConfig(
        classroom=ClassroomSettings(teachers_file=store.path),
        photo_library=PhotoLibrarySettings(directory=tmp_path / "library"),
    )
    picture = photo("coffee")

    async def main() -> None:
        app = create_app(config, engine=FakeEngine(delay_s=0.1))
        async with serving(app) as base:
            lee = await log_in(base, "lee", "correct horse")
            kim = await log_in(base, "kim", "battery staple")
            phone = Client(picture)
            async with lee, kim, aiohttp.ClientSession() as anonymous:
                try:
                    _, room = await post_json(lee, f"{base}/api/rooms")
                    code = room["code"]
                    await phone.connect(anonymous, base, room=code, name="Table 1")
                    await phone.wait_for("room", lambda m: "you" in m)
                    url = f"{base}/api/rooms/{code}/phones/{phone.session}/preview.jpg"
                    before = _files(tmp_path)

                    # the room's teacher: a small JPEG of what the camera sends, not cached
                    deadline = asyncio.get_running_loop().time() + WAIT_S
                    while (answer := await _get(lee, url))[0] != 200:
                        assert answer[0] == 404, answer  # no frame yet
                        assert asyncio.get_running_loop().time() < deadline, "no preview"
                        await asyncio.sleep(0.1)
                    _, cache, body = answer
                    assert "no-store" in cache
                    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
                    assert image is not None and image.shape[1] == 160
                    expected = cv2.resize(picture, (160, image.shape[0]))[..., ::-1]
                    difference = np.abs(image.astype(int) - expected.astype(int)).mean()
                    assert difference < 40, difference  # the phone's picture, not another

                    # another teacher and a stranger see nothing, and learn nothing
                    assert (await _get(kim, url))[0] == 404
                    assert (await _get(anonymous, url))[0] == 401
                    other = f"{base}/api/rooms/{code}/phones/s999/preview.jpg"
                    assert (await _get(lee, other))[0] == 404
                    # nothing was written: no file appeared or changed
                    assert _files(tmp_path) == before
                finally:
                    await phone.close()

    asyncio.run(asyncio.wait_for(main(), 120))
