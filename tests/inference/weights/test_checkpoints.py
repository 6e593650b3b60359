"""Manifest groups one may choose (a second detector): optional groups, files that await a
pinned commit, and the messages that tell a user what to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.weights.checkpoints import (
    FETCH_COMMAND,
    CheckpointError,
    FileState,
    Manifest,
    check_all,
    require,
)


def entry(group: str, file: str, **extra: object) -> dict[str, object]:
    described: dict[str, object] = {
        "group": group,
        "file": file,
        "url": f"https://example.invalid/{file}",
        "revision": "0" * 40,
        "size": None,
        "sha256": None,
    }
    described.update(extra)
    return described


def write(tmp_path: Path, files: list[dict[str, object]]) -> Manifest:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"files": files}), encoding="utf-8")
    return Manifest.load(path)


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return write(
        tmp_path,
        [
            entry("grounding_dino", "grounding-dino-tiny/config.json"),
            entry("mm_grounding_dino", "mm-grounding-dino-tiny/config.json", optional=True),
            entry(
                "mm_grounding_dino",
                "mm-grounding-dino-tiny/model.safetensors",
                optional=True,
                revision=None,
                url="https://example.invalid/UNPINNED/model.safetensors",
            ),
        ],
    )


def test_optional_and_unpinned_entries_parse(manifest: Manifest) -> None:
    plain, optional, unpinned = manifest.entries
    assert not plain.optional and not plain.awaits_pin
    assert optional.optional and not optional.awaits_pin and optional.revision == "0" * 40
    assert unpinned.optional and unpinned.awaits_pin and unpinned.revision == ""
    assert manifest.optional_groups() == ("mm_grounding_dino",)


def test_a_sha256_pins_a_file_without_a_revision(tmp_path: Path) -> None:
    (pinned,) = write(tmp_path, [entry("g", "f.bin", revision=None, sha256="a" * 64)]).entries
    assert pinned.revision == "" and not pinned.awaits_pin


def test_optional_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"optional of f\.bin must be true or false"):
        write(tmp_path, [entry("g", "f.bin", optional="yes")])


def test_check_all_skips_an_optional_group_nobody_fetched(manifest: Manifest) -> None:
    statuses = check_all(manifest)
    assert [s.entry.group for s in statuses] == ["grounding_dino"]
    named = check_all(manifest, ["mm_grounding_dino"])  # asked for: checked even when absent
    assert [s.state for s in named] == [FileState.MISSING, FileState.MISSING]


def test_check_all_checks_an_optional_group_once_part_of_it_is_there(manifest: Manifest) -> None:
    folder = manifest.weights_dir / "mm-grounding-dino-tiny"
    folder.mkdir()
    (folder / "model.safetensors.part").write_bytes(b"half")  # a fetch that broke off
    states = {s.entry.file: s.state for s in check_all(manifest)}
    assert states == {
        "grounding-dino-tiny/config.json": FileState.MISSING,
        "mm-grounding-dino-tiny/config.json": FileState.MISSING,
        "mm-grounding-dino-tiny/model.safetensors": FileState.MISSING,
    }


def test_require_names_the_fetch_command_for_the_group(manifest: Manifest) -> None:
    with pytest.raises(CheckpointError) as plain:
        require(manifest, "grounding_dino")
    assert f"Run `{FETCH_COMMAND}` to download it" in str(plain.value)
    assert "--only" not in str(plain.value)  # a plain fetch gets the groups that are not optional


def test_require_explains_a_group_that_awaits_its_commit(manifest: Manifest) -> None:
    with pytest.raises(CheckpointError) as caught:
        require(manifest, "mm_grounding_dino")
    message = str(caught.value)
    assert "model.safetensors is missing" in message
    assert f"`{FETCH_COMMAND} --only mm_grounding_dino`" in message
    assert "pins no commit for mm_grounding_dino" in message
    assert str(manifest.weights_dir / "mm-grounding-dino-tiny") in message
    assert "--models random" in message


def test_require_on_an_optional_pinned_group_says_only_which_fetch(tmp_path: Path) -> None:
    manifest = write(tmp_path, [entry("mm_grounding_dino", "mm/config.json", optional=True)])
    with pytest.raises(CheckpointError) as caught:
        require(manifest, "mm_grounding_dino")
    message = str(caught.value)
    assert f"Run `{FETCH_COMMAND} --only mm_grounding_dino` to download it" in message
    assert "pins no commit" not in message
