"""The manifest shipped in weights/: every file is pinned by a sha256 or an immutable revision,
or (MM-Grounding-DINO, whose commit nobody here could verify) refused by `weights fetch` until
it is; each `--detector` choice has its group, laid out as the loader expects."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from inference.weights.checkpoints import Manifest, ManifestEntry, default_manifest_path
from inference.choices import DEFAULT_DETECTOR, DETECTOR_GROUPS
from inference.weights.fetch import fetch

COMMIT = re.compile(r"[0-9a-f]{40}")
SHIPPED = Manifest.load(default_manifest_path())
# Groups whose commit is not verified yet: `weights fetch` refuses their files (see README).
AWAITING_A_COMMIT = {"mm_grounding_dino"}


def test_the_shipped_manifest_names_every_model() -> None:
    assert set(SHIPPED.groups()) == {"mobile_sam", "grounding_dino", "mm_grounding_dino"}
    assert SHIPPED.path == default_manifest_path()


def test_each_detector_choice_has_its_group_in_its_own_folder() -> None:
    for name, group in DETECTOR_GROUPS.items():
        assert SHIPPED.group_dir(group) == SHIPPED.weights_dir / name
        files = {entry.file.split("/", 1)[1] for entry in SHIPPED.group(group)}
        assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= files
        assert {"tokenizer.json", "tokenizer_config.json"} <= files
    # only the detector one did not choose is optional: a plain `weights fetch` gets the rest
    optional = {DETECTOR_GROUPS[name] for name in DETECTOR_GROUPS if name != DEFAULT_DETECTOR}
    assert set(SHIPPED.optional_groups()) == optional


@pytest.mark.parametrize("entry", SHIPPED.entries, ids=lambda e: e.file)
def test_each_shipped_file_is_pinned_by_hash_or_by_a_commit_in_its_url(
    entry: ManifestEntry,
) -> None:
    url = urllib.parse.urlsplit(entry.url)
    assert url.scheme == "https", "checkpoints come over https only"
    if entry.sha256 is None and entry.group not in AWAITING_A_COMMIT:
        # No published hash: the URL must name a commit, not a branch, so its bytes cannot move;
        # `weights fetch` records the hash at first download and later checks hold it to that.
        assert COMMIT.fullmatch(entry.revision), entry.revision
        assert f"/{entry.revision}/" in url.path
    elif entry.sha256 is None:
        # No verified commit yet: no revision at all (never a branch name), a URL that names
        # no branch either, and the fetch refuses the file (next test).
        assert entry.awaits_pin and entry.optional
        assert "/main/" not in url.path and "/UNPINNED/" in url.path


def test_files_awaiting_a_commit_are_refused_without_a_request(tmp_path: Path) -> None:
    """The shipped MM-Grounding-DINO entries: `weights fetch --only mm_grounding_dino` reports
    every file as failed, names what to do, and never opens a connection (the URLs would
    not even resolve: UNPINNED)."""
    manifest = Manifest(SHIPPED.entries, tmp_path)
    for group in AWAITING_A_COMMIT:
        results = fetch(manifest, [group], progress=False, timeout=0.01, retries=0)
        assert results and {r.outcome for r in results} == {"failed"}
        assert all("pins neither a commit nor a sha256" in r.detail for r in results)
        assert all(r.bytes_downloaded == 0 and not r.path.exists() for r in results)
    assert not list(tmp_path.iterdir()), "nothing written, not even a folder"
