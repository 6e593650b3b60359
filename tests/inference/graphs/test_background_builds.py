"""Background builds: one at a time, reported while running, errors logged not raised."""

from __future__ import annotations

import logging
import threading

import pytest

from inference.graphs import background_builds


def test_builds_run_one_at_a_time_and_are_reported_while_running() -> None:
    first_in, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        order.append("first")
        first_in.set()
        assert release.wait(60)

    a = background_builds.start_build("test-first", first)
    assert first_in.wait(60)
    b = background_builds.start_build("test-second", lambda: order.append("second"))
    assert background_builds.builds_running()
    assert b.is_alive() and order == ["first"]  # waits for its turn
    release.set()
    a.join(60)
    b.join(60)
    assert order == ["first", "second"] and not background_builds.builds_running()


def test_a_build_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("no conversion rule")

    with caplog.at_level(logging.ERROR):
        background_builds.start_build("test-broken", broken).join(60)
    assert "test-broken failed" in caplog.text and "no conversion rule" in caplog.text
