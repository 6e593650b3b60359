"""`visionanything weights fetch|verify|pin`: output lines and exit statuses."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from tests.support.weights import entry, random_bytes, write_manifest
from visionanything.cli import main

pytestmark = pytest.mark.timeout(30)


def output_line(out: str, file: str) -> str:
    [line] = [line for line in out.splitlines() if line.split()[1].endswith(file)]
    return line


def test_verify_reports_every_state_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, truncated, wrong = (random_bytes(4096, seed) for seed in (1, 2, 3))
    weights = tmp_path / "weights"
    manifest = write_manifest(
        weights / "manifest.json",
        [
            entry("alpha", "good.bin", good),
            entry("alpha", "missing.bin", b"never written"),
            entry("beta", "truncated.bin", truncated),
            entry("beta", "wrong.bin", wrong),
            entry("beta", "config.json", b"{}", pin=False),
        ],
    )
    (weights / "good.bin").write_bytes(good)
    (weights / "truncated.bin").write_bytes(truncated[:1000])
    (weights / "wrong.bin").write_bytes(bytes(reversed(wrong)))
    (weights / "config.json").write_text("{}")

    status = main(["weights", "verify", "--manifest", str(manifest)])

    out = capsys.readouterr().out
    assert status == 1
    assert len(out.splitlines()) == 5
    states = {
        "good.bin": "ok",
        "missing.bin": "missing",
        "truncated.bin": "corrupt",
        "wrong.bin": "corrupt",
        "config.json": "unpinned",
    }
    for file, state in states.items():
        line = output_line(out, file)
        assert line.split()[0] == state
        assert str(weights / file) in line
        needs_fetch = state in ("missing", "corrupt")
        assert ("visionanything weights fetch" in line) == needs_fetch, line
    assert "--only alpha" in output_line(out, "missing.bin")
    assert "truncated: 1000 bytes, expected 4096" in output_line(out, "truncated.bin")
    assert "sha256" in output_line(out, "wrong.bin")


def test_verify_exits_0_when_all_files_are_ok_or_unpinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(
        tmp_path / "manifest.json",
        [entry("g", "a.bin", b"aaaa"), entry("g", "b.json", b"", pin=False)],
    )
    files = tmp_path / "elsewhere"
    files.mkdir()
    (files / "a.bin").write_bytes(b"aaaa")
    (files / "b.json").write_text("[]")

    status = main(["weights", "verify", "--manifest", str(manifest), "--weights-dir", str(files)])

    out = capsys.readouterr().out
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == ["ok", "unpinned"]


def test_verify_hint_repeats_custom_locations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(tmp_path / "m.json", [entry("g", "a.bin", b"a")])
    files = tmp_path / "my weights"

    status = main(["weights", "verify", "--manifest", str(manifest), "--weights-dir", str(files)])

    out = capsys.readouterr().out
    assert status == 1
    assert f"--manifest {manifest}" in out and f"--weights-dir '{files}'" in out


@pytest.mark.parametrize("action", ["verify", "fetch"])
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "manifest not found"), ('{"files": [{"group": "g"}]}', "malformed")],
)
def test_bad_manifest_exits_2_without_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    action: str,
    content: str | None,
    message: str,
) -> None:
    manifest = tmp_path / "manifest.json"
    if content is not None:
        manifest.write_text(content)

    status = main(["weights", action, "--manifest", str(manifest)])

    captured = capsys.readouterr()
    assert status == 2
    assert message in captured.err and str(manifest) in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_fetch_downloads_then_verify_passes(
    served_dir: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, base_url = served_dir
    model, config = random_bytes(300_000, seed=4), b'{"hidden": 8}'
    (root / "model.bin").write_bytes(model)
    (root / "config.json").write_bytes(config)
    manifest = write_manifest(
        tmp_path / "weights" / "manifest.json",
        [
            entry("m", "sub/model.bin", model, url=f"{base_url}/model.bin"),
            entry("m", "sub/config.json", config, url=f"{base_url}/config.json", pin=False),
        ],
    )

    status = main(["weights", "fetch", "--manifest", str(manifest), "--no-progress"])

    captured = capsys.readouterr()
    assert status == 0, captured
    assert [line.split()[0] for line in captured.out.splitlines()] == ["downloaded"] * 2
    assert "%|" not in captured.err  # no progress bar
    assert (tmp_path / "weights" / "sub" / "model.bin").read_bytes() == model
    assert (tmp_path / "weights" / "sub" / "config.json").read_bytes() == config

    assert main(["weights", "fetch", "--manifest", str(manifest), "--no-progress"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["skipped"] * 2
    assert main(["weights", "verify", "--manifest", str(manifest)]) == 0


def test_fetch_only_selected_groups_into_weights_dir(
    served_dir: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, base_url = served_dir
    for name in ("a", "b", "c"):
        (root / name).write_bytes(name.encode() * 10)
    manifest = write_manifest(
        tmp_path / "manifest.json",
        [entry(n, n, n.encode() * 10, url=f"{base_url}/{n}") for n in ("a", "b", "c")],
    )
    target = tmp_path / "target"

    argv = ["weights", "fetch", "--manifest", str(manifest), "--weights-dir", str(target)]
    status = main([*argv, "--only", "a", "--only", "c", "--no-progress"])

    assert status == 0
    assert sorted(p.name for p in target.iterdir()) == ["a", "c"]
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 2


def test_fetch_unknown_group_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", [entry("a", "a.bin", b"a")])

    status = main(["weights", "fetch", "--manifest", str(manifest), "--only", "zzz"])

    captured = capsys.readouterr()
    assert status == 2
    assert "zzz" in captured.err and "Traceback" not in captured.err


def test_fetch_failure_exits_1_and_names_the_file(
    served_dir: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, base_url = served_dir
    (root / "ok.bin").write_bytes(b"fine")
    manifest = write_manifest(
        tmp_path / "manifest.json",
        [
            entry("g", "absent.bin", b"?", url=f"{base_url}/absent.bin"),
            entry("g", "ok.bin", b"fine", url=f"{base_url}/ok.bin"),
        ],
    )

    status = main(["weights", "fetch", "--manifest", str(manifest), "--no-progress"])

    captured = capsys.readouterr()
    assert status == 1
    failed = output_line(captured.out, "absent.bin")
    assert failed.startswith("failed") and "404" in failed
    assert output_line(captured.out, "ok.bin").startswith("downloaded")
    assert "1 of 2 file(s) failed" in captured.err


def test_pin_writes_recorded_hashes_and_sizes_into_the_manifest(
    served_dir: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, base_url = served_dir
    model, config, vocab = random_bytes(50_000, seed=7), b'{"d_model": 256}', b"[PAD]\ncat\n"
    for name, data in (("model.bin", model), ("config.json", config), ("vocab.txt", vocab)):
        (root / name).write_bytes(data)
    pinned_model = entry("m", "model.bin", model, url=f"{base_url}/model.bin")
    pinned_model["size"] = None  # hash published, size not: pin fills it in
    manifest = write_manifest(
        tmp_path / "weights" / "manifest.json",
        [
            pinned_model,
            entry("m", "config.json", config, url=f"{base_url}/config.json", pin=False),
            entry("m", "vocab.txt", vocab, url=f"{base_url}/vocab.txt", pin=False),
        ],
    )
    before = json.loads(manifest.read_text())
    manifest.chmod(0o644)
    assert main(["weights", "fetch", "--manifest", str(manifest), "--no-progress"]) == 0
    capsys.readouterr()

    assert main(["weights", "pin", "--manifest", str(manifest), "--dry-run"]) == 0
    assert "would pin" in capsys.readouterr().out
    assert json.loads(manifest.read_text()) == before

    assert main(["weights", "pin", "--manifest", str(manifest)]) == 0

    out = capsys.readouterr().out
    assert output_line(out, "config.json").startswith("pinned")
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644  # rewritten, not made private
    files = {item["file"]: item for item in json.loads(manifest.read_text())["files"]}
    for name, data in (("model.bin", model), ("config.json", config), ("vocab.txt", vocab)):
        assert files[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert files[name]["size"] == len(data)
        assert files[name]["url"] == f"{base_url}/{name}"  # everything else kept
    assert main(["weights", "verify", "--manifest", str(manifest)]) == 0
    verified = capsys.readouterr().out
    for name in ("config.json", "vocab.txt"):  # checked against the manifest now, not the record
        assert output_line(verified, name).endswith("sha256 matches")
    assert main(["weights", "pin", "--manifest", str(manifest)]) == 0
    assert "already pins" in capsys.readouterr().out


def test_pin_changes_nothing_while_a_file_is_missing_or_unrecorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, vocab = b'{"d_model": 256}', b"[PAD]\ncat\n"
    manifest = write_manifest(
        tmp_path / "weights" / "manifest.json",
        [entry("m", "config.json", config, pin=False), entry("m", "vocab.txt", vocab, pin=False)],
    )
    (tmp_path / "weights" / "config.json").write_bytes(config)  # copied in, never fetched
    before = manifest.read_text()

    status = main(["weights", "pin", "--manifest", str(manifest)])

    err = capsys.readouterr().err
    assert status == 1
    assert "cannot pin config.json is unpinned" in err and "weights fetch" in err
    assert "cannot pin vocab.txt is missing" in err
    assert manifest.read_text() == before


def test_pin_skips_an_optional_group_nobody_fetched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, other = b'{"d_model": 256}', b'{"model_type": "mm_grounding_dino"}'
    optional = entry("other_detector", "other/config.json", other, pin=False)
    optional["optional"] = True
    manifest = write_manifest(
        tmp_path / "weights" / "manifest.json",
        [entry("m", "config.json", config), optional],
    )
    (tmp_path / "weights" / "config.json").write_bytes(config)

    assert main(["weights", "pin", "--manifest", str(manifest)]) == 0
    assert "other/config.json" not in capsys.readouterr().err

    (tmp_path / "weights" / "other").mkdir()  # fetched by hand: now it must be pinnable
    (tmp_path / "weights" / "other" / "config.json").write_bytes(other)
    assert main(["weights", "pin", "--manifest", str(manifest)]) == 1
    assert "cannot pin other/config.json is unpinned" in capsys.readouterr().err
