"""Waiting on a page's state from Python. Playwright's `wait_for_function` evaluates its
predicate with eval() inside the page, which the server's Content-Security-Policy (script-src
'self', no 'unsafe-eval') rightly forbids; `page.evaluate` goes through the DevTools protocol
instead, so the pages are tested under the same policy phones get."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Page


class Value:
    """What `wait_for` found (`json_value()` like Playwright's handles)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    async def json_value(self) -> Any:
        return self.value


async def wait_for(page: Page, expression: str, timeout: float = 30_000) -> Value:
    """Poll `expression` (JavaScript, evaluated in the page) until it is truthy; raise
    TimeoutError after `timeout` milliseconds."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = await page.evaluate(expression)
        if value:
            return Value(value)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} ms waiting for: {expression}")
        await asyncio.sleep(0.1)


async def wait_for_more(count: Callable[[], Awaitable[int]], than: int, timeout: float = 30) -> int:
    """Poll `count()` until it exceeds `than` (e.g. frames decoded keep growing); its value,
    or TimeoutError after `timeout` seconds. Waits for an event, not for a fixed time."""
    deadline = time.monotonic() + timeout
    while (value := await count()) <= than:
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {value} after {timeout:.0f} s (wanted more than {than})")
        await asyncio.sleep(0.1)
    return value


async def create_room(teacher: Page) -> str:
    """On a logged-in teacher page: press New room, wait for the room's controls; its code."""
    await teacher.wait_for_selector("#new-room", state="visible")
    await teacher.click("#new-room")
    await teacher.wait_for_url("**/room/*/teacher")
    await teacher.wait_for_selector("#controls", state="visible")
    return (await teacher.text_content("#code") or "").strip()


async def teacher_post(teacher: Page, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST JSON to the teacher API from a logged-in teacher page (its cookie, its origin), as
    the page's own buttons do; the answer's JSON."""
    return await teacher.evaluate(
        """async ([path, body]) => {
            const response = await fetch(path, {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify(body),
                credentials: "same-origin",
            });
            return await response.json();
        }""",
        [path, body or {}],
    )
