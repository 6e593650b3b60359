"""One way to replace a file: whole or not at all, with the asked permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from inference.core import atomic_write
from inference.core.atomic_write import write_atomically


@pytest.mark.parametrize(("mode", "fsync"), [(0o600, False), (0o644, True)])
def test_the_file_is_replaced_with_the_asked_mode(tmp_path: Path, mode: int, fsync: bool) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")

    write_atomically(path, b"new", mode=mode, fsync=fsync)

    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")

    def broken_replace(source: str, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic_write.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, b"new")

    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
