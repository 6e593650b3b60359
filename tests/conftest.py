"""Settings every test shares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.core.directories import CACHE_ENV
from inference.models import Models
from tests.support.camera import write_camera_clip
from tests.support.coturn import running_coturn
from tests.support.models import tiny_random_models
from tests.support.weights import serving_directory


@pytest.fixture(scope="session", autouse=True)
def _graph_cache_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exported model graphs (OpenVINO, ONNX) go to a cache of this run, shared by its tests:
    never into the user's ~/.cache (it grew by hundreds of MB a run), and every run costs what a
    fresh clone's does. Subprocesses (serve, workers) inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("graph_cache")))
        yield


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    """A real coturn on 127.0.0.1 with tests.support.coturn.SECRET (TURN REST); yields its port."""
    with running_coturn(tmp_path) as server:
        yield server.port


@pytest.fixture(scope="module")
def models() -> Models:
    """Tiny random models for the tests of one module (`tests/support/models.py`)."""
    return tiny_random_models()


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip for Chromium's fake camera (3 s, 320×240 at 15 fps) for the page tests of one
    module (`tests/support/camera.py`); a module wanting another clip overrides this fixture."""
    return write_camera_clip(tmp_path_factory.mktemp("camera"))


@pytest.fixture
def served_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A directory served over loopback HTTP, proxies unset: (directory, base URL)."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    root = tmp_path / "served"
    root.mkdir()
    with serving_directory(root) as base_url:
        yield root, base_url
