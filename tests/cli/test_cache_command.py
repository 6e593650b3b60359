"""`visionanything cache list|clear`: output lines, exit statuses, errors as messages."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from inference.core.directories import CACHE_ENV
from inference.graphs import cache as graph_cache
from inference.graphs.cache import MB
from visionanything.cli import main

pytestmark = pytest.mark.timeout(30)
DAY = 86400.0


def entry(root: Path, parts: tuple[str, ...], size_mb: float, last_used: float) -> Path:
    """A fake exported graph of `size_mb` (sparse), last used at `last_used`."""
    directory = root.joinpath(*parts)

    def fill(temporary: Path) -> None:
        with (temporary / "model.bin").open("wb") as handle:
            handle.truncate(int(size_mb * MB))

    graph_cache.write_entry(directory, fill, max_bytes=10_000 * MB)
    graph_cache.touch(directory, last_used)
    return directory


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """The default cache (through $VISIONANYTHING_CACHE_DIR) with an encoder graph unused for
    ten days and a detector graph used an hour ago: (root, encoder, detector)."""
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    monkeypatch.delenv(graph_cache.MAX_ENV, raising=False)
    now = time.time()
    encoder = entry(root, ("mobile_sam_encoder", "openvino", "512-aaa"), 300, now - 10 * DAY)
    detector = entry(root, ("grounding_dino_openvino", "800x1066-bbb"), 150.5, now - 3600)
    return root, encoder, detector


def test_list_prints_each_graph_and_the_total_against_the_bound(
    cache: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, encoder, detector = cache
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["KIND", "SIZE", "LAST", "USED", "PATH"]
    first, second = (line.split() for line in out[1:3])  # least recently used first
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(encoder).st_mtime)).split()
    assert first == ["mobile_sam_encoder/openvino", "300.0", "MB", *stamp, str(encoder)]
    assert second[:3] == ["grounding_dino_openvino", "150.5", "MB"]
    assert second[-1] == str(detector)
    assert out[3].startswith("total 450.5 MB in 2 graph(s) of at most 2048.0 MB")
    assert graph_cache.MAX_ENV in out[3] and len(out) == 4


def test_list_of_an_empty_or_missing_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(graph_cache.MAX_ENV, "100")
    assert main(["cache", "list", "--cache-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert f"no exported graphs in {tmp_path / 'none'}" in out
    assert "total 0.0 MB in 0 graph(s) of at most 100.0 MB" in out


def test_list_survives_unknown_and_unreadable_directories(
    cache: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, encoder, detector = cache
    (root / "mobile_sam_encoder" / "stray-file").write_text("not a runtime")
    junk = root / "grounding_dino_openvino" / "junk"  # no meta.json: listed all the same
    junk.mkdir()
    real_scandir = os.scandir
    unreadable = root / "mobile_sam_encoder"

    def scandir(path: os.PathLike[str] | str | int) -> object:
        if not isinstance(path, int) and Path(path) == unreadable:  # rmtree passes fds
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(graph_cache.os, "scandir", scandir)
    assert main(["cache", "list"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"warning: cannot read {unreadable}: Permission denied\n"
    assert str(detector) in captured.out and str(junk) in captured.out
    assert str(encoder) not in captured.out and "Traceback" not in captured.err


def test_clear_deletes_everything_and_says_how_much_was_freed(
    cache: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, encoder, detector = cache
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out == f"deleted 2 graph(s) from {root}, freed 450.5 MB\n"
    assert not encoder.exists() and not detector.exists()
    assert main(["cache", "list"]) == 0
    assert "total 0.0 MB in 0 graph(s)" in capsys.readouterr().out


def test_clear_older_than_keeps_the_recent_ones(
    cache: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, encoder, detector = cache
    assert main(["cache", "clear", "--older-than", "7"]) == 0
    out = capsys.readouterr().out
    assert out == f"deleted 1 graph(s) unused for over 7 days from {root}, freed 300.0 MB\n"
    assert not encoder.exists() and detector.is_dir()


@pytest.mark.parametrize("days", ["-1", "soon", "nan"])
def test_clear_refuses_a_bad_age(days: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["cache", "clear", "--older-than", days])
    assert exit_info.value.code == 2
    assert "expected a number of days" in capsys.readouterr().err


def test_clear_errors_are_messages_not_tracebacks(
    cache: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A directory that cannot be deleted (here rmtree is refused, as for a read-only parent:
    tests run as root, where permissions refuse nothing) and one being loaded."""
    root, encoder, detector = cache
    real_rmtree = graph_cache.shutil.rmtree

    def refuse(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
        if Path(path) == encoder:
            (encoder / "model.bin").unlink()  # part of it goes, as a real failure can
            raise PermissionError(13, "Permission denied", str(encoder / "meta.json"))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(graph_cache.shutil, "rmtree", refuse)
    with graph_cache.reading(detector):
        assert main(["cache", "clear"]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"could not delete {encoder}: Permission denied: {encoder / 'meta.json'}",
        f"could not delete {detector}: in use (being loaded)",
    ]
    assert captured.out == (
        f"deleted 0 graph(s) from {root}, freed 300.0 MB; 2 could not be deleted\n"
    )
    assert detector.is_dir() and "Traceback" not in captured.err
