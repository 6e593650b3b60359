"""The exported-graph cache's size bound: eviction order, what is never evicted, odd
directories, sharing with other threads and processes, and the real writers (an ONNX export of
the encoder, an OpenVINO save as the detector does it). Entries are sparse files of a given
size (no disk used); last-use times are explicit mtimes, never sleeps."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from inference.detection import runtime as detector_runtime
from inference.graphs import cache as graph_cache
from inference.graphs.cache import MB
from inference.segmentation.encoder_build import cache_path
from inference.segmentation.encoder_runtimes import build_encoder
from inference.segmentation.segmenter import build_random_segmenter

CPU = torch.device("cpu")
REPO = Path(__file__).resolve().parents[3]
OLD = 1_000_000_000.0  # 2001: explicit last-use times, older than any real write in a test
KINDS = (
    (graph_cache.ENCODER_SUBDIR, "openvino"),
    (graph_cache.ENCODER_SUBDIR, "onnxruntime"),
    (graph_cache.DETECTOR_SUBDIR,),
)


def entry_dir(root: Path, number: int) -> Path:
    """The directory of a fake entry (kinds rotate through the encoder and detector layouts)."""
    return root.joinpath(*KINDS[number % len(KINDS)], f"{256 + 32 * number}-{number:024x}")


def write(
    root: Path,
    number: int,
    size_mb: float,
    *,
    max_mb: float | None = None,
    last_used: float | None = None,
) -> Path:
    """A fake entry of `size_mb` written through the writers' path (`write_entry`, which evicts
    down to `max_mb`); then dated `last_used` when given."""
    directory = entry_dir(root, number)

    def fill(temporary: Path) -> None:
        with (temporary / "model.bin").open("wb") as handle:
            handle.truncate(int(size_mb * MB))  # sparse: the size without the disk

    bound = None if max_mb is None else int(max_mb * MB)
    graph_cache.write_entry(directory, fill, max_bytes=bound)
    if last_used is not None:
        graph_cache.touch(directory, last_used)
    return directory


def present(root: Path) -> set[str]:
    return {entry.key for entry in graph_cache.scan(root).entries}


def test_cache_stays_under_its_bound_when_more_sizes_are_built_than_fit(tmp_path: Path) -> None:
    written: list[Path] = []
    for number in range(8):  # eight sizes of 300 MB under a 1000 MB bound: three fit
        written.append(write(tmp_path, number, 300, max_mb=1000))
        found = graph_cache.scan(tmp_path)
        assert found.total_bytes <= 1000 * MB and not found.problems
        assert written[-1].is_dir()  # the entry just written is always kept
        graph_cache.touch(written[-1], OLD + number)  # built in this order
    assert present(tmp_path) == {path.name for path in written[-3:]}
    kinds = {entry.kind for entry in graph_cache.scan(tmp_path).entries}
    assert kinds == {"mobile_sam_encoder/openvino", "mobile_sam_encoder/onnxruntime"} | {
        "grounding_dino_openvino"
    }
    assert not list(tmp_path.rglob(".*"))  # no temporary left behind


def test_the_recently_loaded_entry_survives(tmp_path: Path) -> None:
    first, second, third = (
        write(tmp_path, number, 100, last_used=OLD + number) for number in range(3)
    )
    with graph_cache.reading(first):  # a load: now the most recently used of the three
        pass
    newest = write(tmp_path, 3, 100, max_mb=300)
    assert present(tmp_path) == {first.name, third.name, newest.name}
    assert not second.exists()


def test_the_entry_just_written_is_kept_even_alone_over_the_bound(tmp_path: Path) -> None:
    for number in range(3):
        write(tmp_path, number, 1, last_used=OLD + number)
    big = write(tmp_path, 3, 500, max_mb=100)
    assert present(tmp_path) == {big.name}
    assert graph_cache.scan(tmp_path).total_bytes == 500 * MB  # over the bound, and kept


def test_an_entry_being_read_by_another_thread_is_not_evicted(tmp_path: Path) -> None:
    held = write(tmp_path, 0, 100, last_used=OLD)
    other = write(tmp_path, 1, 100, last_used=OLD + 1)
    inside, release = threading.Event(), threading.Event()

    def load() -> None:
        with graph_cache.reading(held):
            inside.set()
            release.wait(30)

    reader = threading.Thread(target=load)
    reader.start()
    try:
        assert inside.wait(30)
        graph_cache.touch(held, OLD)  # still the oldest: only the lock protects it
        first = graph_cache.evict(tmp_path, max_bytes=0)
        assert [entry.path for entry in first] == [other] and held.is_dir()
    finally:
        release.set()
        reader.join(30)
    [evicted] = graph_cache.evict(tmp_path, max_bytes=0)  # read done: now it goes
    assert evicted.path == held and not held.exists()


def test_an_entry_being_read_by_another_process_is_not_evicted(tmp_path: Path) -> None:
    held = write(tmp_path, 0, 100, last_used=OLD)
    script = (
        "import sys\nfrom pathlib import Path\nfrom inference.graphs.cache import reading\n"
        "with reading(Path(sys.argv[1])):\n"
        "    print('ready', flush=True)\n    sys.stdin.readline()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(held)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as reader:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "ready"
        graph_cache.touch(held, OLD)
        assert graph_cache.evict(tmp_path, max_bytes=0) == []
        assert held.is_dir()
        result = graph_cache.clear(tmp_path)
        assert [(entry.path, why) for entry, why in result.failed] == [
            (held, "in use (being loaded)")
        ]
        reader.stdin.write("\n")
        reader.stdin.flush()
    assert reader.returncode == 0
    assert [entry.path for entry in graph_cache.evict(tmp_path, max_bytes=0)] == [held]


def test_corrupt_and_unknown_directories_do_not_crash_scan_or_evict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write(tmp_path, 0, 10, last_used=OLD + 10)
    junk = tmp_path / graph_cache.DETECTOR_SUBDIR / "junk"  # no meta, no model: still ours
    (junk / "deeper").mkdir(parents=True)
    (junk / "deeper" / "half.bin").write_bytes(b"x" * 1000)
    os.utime(junk, (OLD, OLD))
    (tmp_path / "notes").mkdir()  # not ours: never listed or deleted
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    (tmp_path / graph_cache.ENCODER_SUBDIR / "stray-file").write_text("a file, not a runtime")
    (tmp_path / graph_cache.DETECTOR_SUBDIR / "stray-file").write_text("a file, not an entry")
    (tmp_path / graph_cache.DETECTOR_SUBDIR / "link").symlink_to(tmp_path / "notes")
    fresh = tmp_path / graph_cache.DETECTOR_SUBDIR / ".512x512-abc.x1y2"  # an export under way
    fresh.mkdir()
    stale = tmp_path / graph_cache.DETECTOR_SUBDIR / ".512x512-abc.dead"  # a killed export's
    stale.mkdir()
    (stale / "model.bin").write_bytes(b"y" * 500)
    os.utime(stale, (OLD - 1, OLD - 1))
    unreadable = entry_dir(tmp_path, 4)  # made below: scanning it fails
    unreadable.mkdir(parents=True)
    real_scandir = os.scandir

    def scandir(path: os.PathLike[str] | str | int) -> object:
        if not isinstance(path, int) and Path(path) == unreadable:  # rmtree passes fds
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(graph_cache.os, "scandir", scandir)
    found = graph_cache.scan(tmp_path)
    assert {entry.key: entry.size_bytes for entry in found.entries} == {
        good.name: 10 * MB,
        "junk": 1000,
        stale.name: 500,
        unreadable.name: 0,
    }
    assert found.problems == [f"cannot read {unreadable}: Permission denied"]
    evicted = graph_cache.evict(tmp_path, max_bytes=10 * MB)  # oldest first: stale, junk, ...
    assert [entry.key for entry in evicted] == [stale.name, "junk"]
    assert fresh.is_dir() and (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    (tmp_path / graph_cache.DETECTOR_SUBDIR).rename(tmp_path / "moved")
    (tmp_path / graph_cache.DETECTOR_SUBDIR).write_text("a file where a kind should be")
    assert {entry.key for entry in graph_cache.scan(tmp_path).entries} == {
        good.name,
        unreadable.name,
    }


def test_cache_root_follows_the_layout(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 2)
    encoder_dir = cache_path(tmp_path, module, 256, "onnxruntime")
    assert graph_cache.cache_root(encoder_dir) == tmp_path
    assert graph_cache.cache_root(tmp_path / graph_cache.DETECTOR_SUBDIR / "1x1-k") == tmp_path
    assert graph_cache.cache_root(tmp_path / "elsewhere" / "k") is None
    outside = tmp_path / "elsewhere" / "k"
    graph_cache.write_entry(outside, lambda temporary: None)  # written, nothing evicted
    assert outside.is_dir()


def test_the_bound_defaults_to_2_gb_and_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(graph_cache.MAX_ENV, raising=False)
    assert graph_cache.max_bytes_from_env() == 2048 * MB
    monkeypatch.setenv(graph_cache.MAX_ENV, "500")
    assert graph_cache.max_bytes_from_env() == 500 * MB
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(graph_cache.MAX_ENV, bad)
        assert graph_cache.max_bytes_from_env() == 2048 * MB
        assert graph_cache.MAX_ENV in caplog.text
    monkeypatch.setenv(graph_cache.MAX_ENV, "250")  # used when no bound is passed
    for number in range(3):
        write(tmp_path, number, 100, last_used=OLD + number)
    newest = write(tmp_path, 3, 100)
    assert present(tmp_path) == {entry_dir(tmp_path, 2).name, newest.name}


def test_clear_everything_or_what_is_older_than(tmp_path: Path) -> None:
    now = OLD + 100 * 86400
    old = write(tmp_path, 0, 3, last_used=now - 10 * 86400)
    recent = write(tmp_path, 1, 2, last_used=now - 86400)
    result = graph_cache.clear(tmp_path, older_than_s=7 * 86400, now=now)
    assert [entry.path for entry in result.removed] == [old]
    assert result.freed_bytes == 3 * MB and not result.failed
    assert recent.is_dir() and not old.exists()
    everything = graph_cache.clear(tmp_path, now=now)
    assert [entry.path for entry in everything.removed] == [recent]
    assert everything.freed_bytes == 2 * MB and present(tmp_path) == set()


def test_a_real_onnx_export_is_bounded_and_its_loads_count_as_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `build_encoder`: the export evicts the oldest graph; a later load from the cache
    marks it used, so it outlives an older one when the next graph is written."""
    monkeypatch.setenv(graph_cache.MAX_ENV, "400")
    oldest = write(tmp_path, 0, 300, max_mb=10_000, last_used=OLD)
    older = write(tmp_path, 3, 300, max_mb=10_000, last_used=OLD + 1)
    segmenter = build_random_segmenter(CPU, 256)
    built = build_encoder(segmenter, "onnxruntime", cache_dir=tmp_path)
    real = cache_path(tmp_path, segmenter.model.image_encoder, 256, "onnxruntime")
    assert built.exported is True
    size = {entry.path: entry.size_bytes for entry in graph_cache.scan(tmp_path).entries}
    assert not oldest.exists()  # 300 + 300 + ~20 MB > 400: the export evicted the oldest
    assert set(size) == {older, real} and 0 < size[real] < 100 * MB
    graph_cache.touch(real, OLD - 1)  # unused for longest...
    again = build_encoder(segmenter, "onnxruntime", cache_dir=tmp_path)
    assert again.exported is False  # ...until this load from the cache
    write(tmp_path, 6, 105 - size[real] / MB)  # 405 MB in all: one graph must go
    assert real.is_dir() and not older.exists()


def test_the_detector_writer_goes_through_the_bounded_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`save_openvino` (the detector's OpenVINO writer, also the encoder's) on a tiny model."""
    ov = importlib.import_module("openvino")
    monkeypatch.setenv(graph_cache.MAX_ENV, "1")
    older = write(tmp_path, 2, 1, last_used=OLD)
    model = ov.convert_model(torch.nn.Linear(4, 2), example_input=torch.zeros(1, 4))
    directory = tmp_path / graph_cache.DETECTOR_SUBDIR / "4x4-tiny"
    detector_runtime.save_openvino(ov, model, directory)
    graph_cache.verify_entry(directory, detector_runtime.MODEL_FILES)
    assert set(json.loads((directory / "meta.json").read_text())["sha256"]) == {
        "model.xml",
        "model.bin",
    }
    assert not older.exists() and present(tmp_path) == {"4x4-tiny"}
