"""What `stream` needs from the engine (`inference.live.engine.Engine` fits): the protocol the
sessions call, and the result they read. Tests hand in fakes (tests/support/fake_engine.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from inference.lighting.tracker import LightingReport
from inference.live.results import SeenObject, SessionNumbers
from inference.models import Models
from stream.webrtc.tracks import (
    RenderableResult,
)
from stream.webrtc.wire import SayLike


class NoticeLike(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


class RoomSettings(Protocol):
    """What a room imposes on its phones (`stream.classroom.room_store.RoomState` fits)."""

    @property
    def words(self) -> str | None: ...

    @property
    def theme(self) -> str | None: ...

    @property
    def speech_muted(self) -> bool: ...

    @property
    def language(self) -> str: ...  # phones joining (or still on it) speak this

    @property
    def hunt(self) -> str | None: ...  # the class hunt's id while one is on

    @property
    def hunt_words(self) -> tuple[str, ...]: ...  # its words, in the order asked


class EngineResult(RenderableResult, Protocol):
    """An engine result as the stream uses it (`inference.live.engine.FrameResult` fits)."""

    @property
    def frame_index(self) -> int: ...

    @property
    def objects(self) -> tuple[SeenObject, ...]: ...

    @property
    def say(self) -> SayLike | None: ...

    @property
    def timings_ms(self) -> dict[str, float]: ...

    @property
    def notices(self) -> tuple[NoticeLike, ...]: ...

    @property
    def lighting(self) -> LightingReport: ...


class EngineLike(Protocol):
    """The part of `inference.live.engine.Engine` the stream calls. Every method is thread-safe,
    cheap and never blocks, so the event loop may call them directly."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def ready(self) -> bool: ...

    @property
    def problem(self) -> str | None: ...  # why it is not ready, for /readyz

    @property
    def degraded(self) -> str | None: ...  # serving without something (e.g. new labels)

    @property
    def themes(self) -> tuple[str, ...]: ...

    def open_session(
        self,
        on_result: Callable[[EngineResult], None],
        vocabulary: Sequence[str] | None = None,
    ) -> str: ...

    def close_session(self, session_id: str) -> None: ...

    def submit(self, session_id: str, frame: Callable[[], Any]) -> None: ...

    def set_vocabulary(
        self, session_id: str, words: str | None = None, theme: str | None = None
    ) -> tuple[str, ...]: ...

    def tap(self, session_id: str, x: float, y: float) -> None: ...

    def set_language(self, session_id: str, code: str) -> str: ...  # UnknownLanguageError

    def set_paused(self, session_id: str, paused: bool) -> None: ...

    def set_speech(self, session_id: str, on: bool) -> None: ...

    def set_everything(self, session_id: str, on: bool) -> None: ...

    def session_stats(self, session_id: str) -> SessionNumbers: ...  # SessionClosedError

    def stats(self) -> dict[str, Any]: ...

    def broker_stats(self) -> dict[str, Any] | None: ...  # a Redis broker's workers, or None

    @property
    def models(self) -> Models | None: ...  # the model pair (photos, the demo badge), or None
