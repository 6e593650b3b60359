"""`visionanything teacher add|list|remove|passwd`: messages, exit statuses and the file."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from stream.classroom.teachers import TeacherStore
from visionanything.cli import main
from visionanything.commands import teacher as teacher_command

pytestmark = pytest.mark.timeout(30)

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        teacher_command, "TeacherStore", functools.partial(TeacherStore, hasher=FAST_HASHER)
    )


@pytest.fixture
def file(tmp_path: Path) -> Path:
    return tmp_path / "teachers.json"


def store_at(path: Path) -> TeacherStore:
    return TeacherStore(path, hasher=FAST_HASHER)


def typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Answer getpass prompts with `answers`, in order; returns the prompts shown."""
    prompts: list[str] = []
    replies: Iterator[str] = iter(answers)

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(teacher_command.getpass, "getpass", fake_getpass)
    return prompts


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_add_prompts_twice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], file: Path
) -> None:
    prompts = typed(monkeypatch, "correct horse", "correct horse")
    assert main(["teacher", "add", "alice", "--admin", "--file", str(file)]) == 0
    assert len(prompts) == 2
    assert "added admin teacher 'alice'" in capsys.readouterr().err
    teacher = store_at(file).get("alice")
    assert teacher is not None and teacher.admin
    assert store_at(file).verify("alice", "correct horse")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (("correct horse", "correct horsE"), "the two passwords differ"),
        (("short", "short"), "password too short"),
    ],
)
def test_add_refuses_bad_typing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    file: Path,
    answers: tuple[str, str],
    message: str,
) -> None:
    typed(monkeypatch, *answers)
    assert main(["teacher", "add", "alice", "--file", str(file)]) == 1
    assert message in capsys.readouterr().err
    assert not file.exists()


def test_cancelled_prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], file: Path
) -> None:
    def cancel(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(teacher_command.getpass, "getpass", cancel)
    assert main(["teacher", "add", "alice", "--file", str(file)]) == 1
    assert "cancelled" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "stdin_text", "status", "message"),
    [
        (["add", "bob", "--password-stdin"], "battery staple\n", 0, "added teacher 'bob'"),
        (["add", "bob", "--password-stdin"], "battery staple\r\n", 0, "added teacher 'bob'"),
        (["add", "bob", "--password-stdin"], "", 1, "no password on stdin"),
        (["add", "bob", "--password-stdin"], "short\n", 1, "password too short"),
        (["add", "bad name", "--password-stdin"], "battery staple\n", 1, "bad teacher name"),
        (["add", "alice", "--password-stdin"], "battery staple\n", 1, "already exists"),
        (["passwd", "alice", "--password-stdin"], "new password\n", 0, "changed the password"),
        (["passwd", "ghost", "--password-stdin"], "new password\n", 1, "no teacher named"),
        (["remove", "alice"], "", 0, "removed teacher 'alice'"),
        (["remove", "ghost"], "", 1, "no teacher named 'ghost'"),
    ],
)
def test_actions(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    file: Path,
    argv: list[str],
    stdin_text: str,
    status: int,
    message: str,
) -> None:
    store_at(file).add("alice", "correct horse")
    stdin(monkeypatch, stdin_text)
    assert main(["teacher", *argv, "--file", str(file)]) == status
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("error: ") is (status == 1)
    if status == 0:
        assert str(file) in err  # says which file it changed


def test_password_changes_and_bob_logs_in(monkeypatch: pytest.MonkeyPatch, file: Path) -> None:
    store_at(file).add("alice", "correct horse")
    stdin(monkeypatch, "battery staple\n")
    assert main(["teacher", "add", "bob", "--password-stdin", "--file", str(file)]) == 0
    assert store_at(file).verify("bob", "battery staple")
    typed(monkeypatch, "new password", "new password")
    assert main(["teacher", "passwd", "alice", "--file", str(file)]) == 0
    assert store_at(file).verify("alice", "new password")
    assert not store_at(file).verify("alice", "correct horse")


def test_list(capsys: pytest.CaptureFixture[str], file: Path) -> None:
    assert main(["teacher", "list", "--file", str(file)]) == 0
    assert capsys.readouterr().out == ""
    store_at(file).add("zed", "password-z")
    store_at(file).add("alice", "password-a", admin=True)
    assert main(["teacher", "list", "--file", str(file)]) == 0
    out, err = capsys.readouterr()
    lines = [line.split("\t")[:2] for line in out.splitlines()]
    assert lines == [["alice", "admin"], ["zed", "-"]]
    assert "2 teacher(s)" in err


def test_default_file_follows_data_dir(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VISIONANYTHING_DATA_DIR", str(tmp_path / "data"))
    stdin(monkeypatch, "battery staple\n")
    assert main(["teacher", "add", "bob", "--password-stdin"]) == 0
    assert store_at(tmp_path / "data" / "teachers.json").names() == ["bob"]


@pytest.mark.parametrize("argv", [["list"], ["remove", "alice"]])
def test_corrupt_file(capsys: pytest.CaptureFixture[str], file: Path, argv: list[str]) -> None:
    file.write_text("{broken")
    assert main(["teacher", *argv, "--file", str(file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(file) in err and "not valid JSON" in err
