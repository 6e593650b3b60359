"""The engine once there is one (it loads after the server starts), and what `/readyz` says
until then."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from stream.edge.health import Readiness
from stream.edge.loading import LoadProgress
from stream.webrtc.engine_seam import EngineLike

EngineFactory = Callable[[], EngineLike]


class EngineSlot:
    """The engine once there is one, and what `/readyz` says until then."""

    def __init__(
        self,
        engine: EngineLike | None,
        factory: EngineFactory | None,
        on_fatal: Callable[[str], None] | None,
        declared_random: bool | None = None,
        progress: LoadProgress | None = None,
    ) -> None:
        self.engine = engine
        self.factory = factory
        self.on_fatal = on_fatal
        self.error: str | None = None
        self.declared_random = declared_random  # ServerConfig.random_weights
        self.progress = progress  # the factory's steps, when it reports them
        self._random: bool | None = None  # the loaded engine's answer, once read

    def readiness(self) -> Readiness:
        if self.error is not None:
            return Readiness(False, f"failed: {self.error}")
        if self.engine is None:
            if self.progress is not None:
                step = self.progress.current().describe()
                return Readiness(False, f"starting: loading models ({step})")
            return Readiness(False, "starting: loading models")
        problem = self.engine.problem
        if problem is not None:
            return Readiness(False, problem)
        return Readiness(True, degraded=self.engine.degraded)

    def stats(self) -> dict[str, Any] | None:
        """The engine's numbers, with its broker's (`"broker"`: Redis errors, malformed
        results) when the broker has any, for `/metrics`."""
        if self.engine is None:
            return None
        stats = self.engine.stats()
        broker = self.engine.broker_stats()
        if broker is not None:
            stats = {**stats, "broker": broker}
        return stats

    def loading(self) -> dict[str, Any] | None:
        """`{"step", "steps", "doing"}` while the models load, None once they are ready or
        have failed. Without a progress report the step is 0 of 0 (pages show a bar that
        moves without a count)."""
        if self.engine is not None or self.error is not None:
            return None
        if self.progress is None:
            return {"step": 0, "steps": 0, "doing": "loading models"}
        return self.progress.current().as_json()

    def building(self) -> list[str]:
        """The faster runtimes still being built in the background (names), [] when none or
        unknown; the models answer on their exact eager path meanwhile."""
        return self.progress.building() if self.progress is not None else []

    def random_weights(self) -> bool | None:
        """Whether the models run on random weights (the pages' demo badge): the loaded
        engine's `models.random` when it has models, else what the server was told; None
        while nobody knows. Read once: weights never change under a running engine."""
        if self._random is None and self.engine is not None:
            models = self.engine.models
            if models is not None:
                self._random = models.random
        return self._random if self._random is not None else self.declared_random


ENGINE_KEY = web.AppKey("engine", EngineSlot)
