"""The manifest shipped in weights/: every file is pinned by a sha256 or an immutable revision."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from inference.checkpoints import Manifest, ManifestEntry, default_manifest_path

COMMIT = re.compile(r"[0-9a-f]{40}")
SHIPPED = Manifest.load(default_manifest_path())


def test_the_shipped_manifest_names_both_models() -> None:
    assert set(SHIPPED.groups()) == {"mobile_sam", "grounding_dino"}
    assert SHIPPED.path == default_manifest_path()


@pytest.mark.parametrize("entry", SHIPPED.entries, ids=lambda e: e.file)
def test_each_shipped_file_is_pinned_by_hash_or_by_a_commit_in_its_url(
    entry: ManifestEntry,
) -> None:
    url = urllib.parse.urlsplit(entry.url)
    assert url.scheme == "https", "checkpoints come over https only"
    if entry.sha256 is None:
        # No published hash: the URL must name a commit, not a branch, so its bytes cannot move;
        # `weights fetch` records the hash at first download and later checks hold it to that.
        assert COMMIT.fullmatch(entry.revision), entry.revision
        assert f"/{entry.revision}/" in url.path
