"""TeacherStore: accounts in a JSON file, argon2 hashes, atomic 0600 writes, clear refusals."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from stream.classroom.teachers import (
    TeacherFileError,
    TeacherStore,
    UnknownTeacherError,
    default_teachers_path,
)

pytestmark = pytest.mark.timeout(30)

# cheap argon2 parameters: the tests check behaviour, not hash strength
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def store(tmp_path: Path) -> TeacherStore:
    return TeacherStore(tmp_path / "data" / "teachers.json", hasher=FAST_HASHER)


def test_missing_file_means_no_teachers(store: TeacherStore) -> None:
    assert store.names() == []
    assert store.get("alice") is None
    assert not store.verify("alice", "whatever-password")
    assert not store.path.exists()


@pytest.mark.parametrize(
    ("name", "password", "right"),
    [
        ("alice", "correct horse", True),
        ("alice", "correct horsE", False),
        ("alice", "", False),
        ("Alice", "correct horse", False),  # names are case-sensitive
        ("nobody", "correct horse", False),
        ("bob_2", "battery staple", True),
        ("bob_2", "correct horse", False),
    ],
)
def test_verify(store: TeacherStore, name: str, password: str, right: bool) -> None:
    store.add("alice", "correct horse", admin=True)
    store.add("bob_2", "battery staple")
    assert store.verify(name, password) is right


def test_add_records_admin_and_creation_time(store: TeacherStore) -> None:
    store.add("alice", "correct horse", admin=True)
    store.add("bob", "battery staple")
    assert store.names() == ["alice", "bob"]
    alice, bob = store.teachers()
    assert (alice.name, alice.admin, bob.admin) == ("alice", True, False)
    assert alice.created.endswith("+00:00")
    raw = json.loads(store.path.read_text())
    assert raw["alice"]["hash"].startswith("$argon2id$")
    assert "correct horse" not in store.path.read_text()


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", "long enough", "bad teacher name"),
        ("a" * 33, "long enough", "bad teacher name"),
        ("has space", "long enough", "bad teacher name"),
        ("sl/ash", "long enough", "bad teacher name"),
        ("émile", "long enough", "bad teacher name"),
        ("ok-name", "short", "password too short"),
        ("existing", "long enough", "already exists"),
    ],
)
def test_add_refusals(store: TeacherStore, name: str, password: str, message: str) -> None:
    store.add("existing", "first password")
    with pytest.raises(ValueError, match=message):
        store.add(name, password)
    assert store.names() == ["existing"]


def test_longest_name_is_accepted(store: TeacherStore) -> None:
    store.add("a" * 32, "12345678")
    assert store.verify("a" * 32, "12345678")


def test_set_password_and_remove(store: TeacherStore) -> None:
    store.add("alice", "correct horse")
    store.set_password("alice", "new password")
    assert not store.verify("alice", "correct horse")
    assert store.verify("alice", "new password")
    with pytest.raises(ValueError, match="too short"):
        store.set_password("alice", "short")
    store.remove("alice")
    assert store.names() == []
    assert not store.verify("alice", "new password")


@pytest.mark.parametrize("action", ["remove", "set_password"])
def test_unknown_teacher(store: TeacherStore, action: str) -> None:
    with pytest.raises(UnknownTeacherError, match="no teacher named 'ghost'"):
        if action == "remove":
            store.remove("ghost")
        else:
            store.set_password("ghost", "long enough")


def test_file_is_private_and_written_atomically(store: TeacherStore) -> None:
    store.add("alice", "correct horse")
    store.path.chmod(0o644)  # a later write puts the private mode back
    store.add("bob", "battery staple")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["teachers.json"]  # no temp left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"alice": {"hash": "x"}}', "entry 'alice' needs hash, admin and created"),
        ('{"alice": {"hash": "x", "admin": "yes", "created": ""}}', "entry 'alice'"),
    ],
)
def test_corrupt_file_names_the_path(store: TeacherStore, content: str, message: str) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content)
    for call in (store.names, lambda: store.verify("alice", "password"), store.teachers):
        with pytest.raises(TeacherFileError, match=message) as caught:
            call()
        assert str(store.path) in str(caught.value)


def test_unusable_hash_fails_verification(store: TeacherStore) -> None:
    store.path.parent.mkdir(parents=True)
    record = {"hash": "not-a-hash", "admin": False, "created": "2025-01-01T00:00:00+00:00"}
    store.path.write_text(json.dumps({"alice": record}))
    assert not store.verify("alice", "anything-at-all")


def test_verify_rehashes_when_parameters_change(tmp_path: Path) -> None:
    path = tmp_path / "teachers.json"
    TeacherStore(path, hasher=FAST_HASHER).add("alice", "correct horse")
    old_hash = json.loads(path.read_text())["alice"]["hash"]
    stronger = TeacherStore(path, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert not stronger.verify("alice", "wrong password")
    assert json.loads(path.read_text())["alice"]["hash"] == old_hash  # only on success
    assert stronger.verify("alice", "correct horse")
    new_hash = json.loads(path.read_text())["alice"]["hash"]
    assert new_hash != old_hash and "t=2" in new_hash
    assert stronger.verify("alice", "correct horse")


def test_unknown_name_still_runs_argon2(store: TeacherStore) -> None:
    """No timing oracle: an unknown name costs one verify too (against a dummy hash)."""
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return super().verify(hash, password)

    counting = TeacherStore(store.path, hasher=CountingHasher(1, 8, 1))
    counting.add("alice", "correct horse")
    assert not counting.verify("nobody", "correct horse")
    assert not counting.verify("nobody2", "other password")
    assert len(calls) == 2 and calls[0] == calls[1]  # the same dummy hash each time


@pytest.mark.parametrize(
    ("data_dir", "expected"),
    [
        ("/srv/va", Path("/srv/va/teachers.json")),
        (None, Path.home() / ".local/share/visionanything/teachers.json"),
        ("", Path.home() / ".local/share/visionanything/teachers.json"),
    ],
)
def test_default_path(
    monkeypatch: pytest.MonkeyPatch, data_dir: str | None, expected: Path
) -> None:
    if data_dir is None:
        monkeypatch.delenv("VISIONANYTHING_DATA_DIR", raising=False)
    else:
        monkeypatch.setenv("VISIONANYTHING_DATA_DIR", data_dir)
    assert default_teachers_path() == expected
