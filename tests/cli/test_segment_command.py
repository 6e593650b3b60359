"""`visionanything segment`: outputs per photo, the documented schema, the overlay invariant,
random weights marked as such, real loading from written checkpoints, and bad inputs."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from inference.detection.random_weights import build_random_detector
from inference.segmentation.mobile_sam_model import build_mobile_sam_vit_t
from inference.weights.checkpoints import sha256_of
from visionanything.cli import main

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "inference" / "schemas" / "segment_result.schema.json").read_text()
)
SKIMAGE_DATA = Path(data.__file__).parent
# Eager runtimes: this file tests the command's outputs, not the runtimes (tests/inference does,
# at small sizes); "auto" would convert full-size graphs to OpenVINO, minutes on a slow CPU.
EAGER = ("--runtime", "torch", "--detector-runtime", "fast")


def _run(args: list[str], caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status = main(args)
    return status, caplog.text


@pytest.fixture(scope="module")
def random_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI run with full-size random models over a real PNG, a JPEG copy and a bad file."""
    folder = tmp_path_factory.mktemp("segment")
    photos = folder / "in"
    photos.mkdir()
    shutil.copy(SKIMAGE_DATA / "chelsea.png", photos / "chelsea.png")
    Image.fromarray(data.coffee()).save(photos / "coffee.jpg", quality=92)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a picture")
    out = folder / "out"
    status = main(
        [
            "segment",
            str(photos / "chelsea.png"),
            str(photos / "broken.png"),
            str(photos / "coffee.jpg"),
            "--find",
            "cat",
            "--models",
            "random",
            "--device",
            "cpu",
            "--size",
            "512",
            "--detector-size",
            "256",
            *EAGER,
            "--out",
            str(out),
        ]
    )
    return {"status": status, "out": out, "photos": photos}


@pytest.mark.slow
def test_writes_three_files_per_image_and_fails_for_the_broken_one(
    random_run: dict[str, Any],
) -> None:
    out: Path = random_run["out"]
    assert random_run["status"] == 1  # one image failed, the others were still processed
    for name in ("chelsea", "coffee"):
        for suffix in (".overlay.png", ".masks.png", ".json"):
            assert (out / f"{name}{suffix}").is_file()
    assert not list(out.glob("broken*"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_json_follows_the_schema_and_says_random(random_run: dict[str, Any], name: str) -> None:
    report = json.loads((random_run["out"] / f"{name}.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["random_weights"] is True
    assert report["models"]["detector"]["weights"] == "random"
    assert report["models"]["segmenter"]["weights"] == "random"
    assert report["device"] == "cpu"
    assert report["vocabulary"] == ["cat"]
    assert report["lighting"]["state"] in {"dark", "dim", "normal", "bright", "backlit"}
    for stage in ("load_image", "lighting", "detect", "render", "total"):
        assert report["timings_ms"][stage] >= 0
    assert report["objects"], "random weights at threshold defaults still find boxes"
    for obj in report["objects"]:
        assert obj["label"] == "cat" and obj["say"]
        x1, y1, x2, y2 = obj["box"]
        assert 0 <= x1 <= x2 <= report["image"]["width"]
        assert 0 <= y1 <= y2 <= report["image"]["height"]
    overlay = Image.open(random_run["out"] / f"{name}.overlay.png")
    assert overlay.info["visionanything:weights"] == "random"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_overlay_differs_from_the_input_exactly_where_masks_and_labels_are(
    random_run: dict[str, Any], name: str
) -> None:
    out: Path = random_run["out"]
    report = json.loads((out / f"{name}.json").read_text())
    source = np.asarray(Image.open(report["image"]["path"]).convert("RGB"))
    overlay = np.asarray(Image.open(out / f"{name}.overlay.png"))
    label_map = np.asarray(Image.open(out / f"{name}.masks.png"))
    assert overlay.shape == source.shape and label_map.shape == source.shape[:2]
    changed = (overlay != source).any(axis=2)
    masks = label_map > 0
    badges = np.zeros_like(masks)
    for obj in report["objects"]:
        x1, y1, x2, y2 = obj["label_box"]
        badges[y1:y2, x1:x2] = True
    assert masks.any(), "the random segmenter produced masks"
    assert not (changed & ~(masks | badges)).any(), "pixels outside masks and labels changed"
    assert changed[masks & ~badges].mean() > 0.99, "mask pixels were left unchanged"
    # every object's value is in the label map, and its area is at least what it kept there
    for obj in report["objects"]:
        kept = int((label_map == obj["mask_value"]).sum())
        assert kept <= obj["mask_area"]


@pytest.fixture(scope="module")
def written_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder as `weights fetch` leaves it, but with random-init files the test wrote:
    a MobileSAM state dict and a tiny Grounding DINO saved with `save_pretrained`."""
    weights = tmp_path_factory.mktemp("weights")
    torch.manual_seed(7)
    torch.save(build_mobile_sam_vit_t(1024).state_dict(), weights / "mobile_sam.pt")
    detector = build_random_detector(torch.device("cpu"), tiny=True)
    folder = weights / "grounding-dino-tiny"
    detector.model.save_pretrained(folder)
    detector.tokenizer.save_pretrained(folder)
    detector.image_processor.save_pretrained(folder)
    files = [
        {
            "group": "mobile_sam" if path.name == "mobile_sam.pt" else "grounding_dino",
            "file": str(path.relative_to(weights)),
            "url": f"http://127.0.0.1:9/{path.name}",
            "revision": "test",
            "size": path.stat().st_size,
            "sha256": sha256_of(path),
        }
        for path in sorted(weights.rglob("*"))
        if path.is_file()
    ]
    (weights / "manifest.json").write_text(json.dumps({"files": files}))
    return weights


def _real_args(weights: Path, out: Path, *extra: str) -> list[str]:
    return [
        "segment",
        str(SKIMAGE_DATA / "astronaut.png"),
        "--models",
        "real",
        "--manifest",
        str(weights / "manifest.json"),
        "--device",
        "cpu",
        "--detector-size",
        "128",
        *EAGER,
        "--out",
        str(out),
        *extra,
    ]


def test_real_models_load_from_checked_checkpoints(
    written_checkpoints: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status, _ = _run(
        _real_args(
            written_checkpoints, tmp_path, "--find", "person, rocket", "--box-threshold", "0"
        ),
        caplog,
    )
    assert status == 0
    report = json.loads((tmp_path / "astronaut.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["random_weights"] is False
    assert report["models"]["segmenter"]["weights"] == "checkpoint"
    assert report["thresholds"]["box"] == 0.0 and "box" in report["lighting"]["pinned"]
    assert Image.open(tmp_path / "astronaut.overlay.png").info["visionanything:weights"] == (
        "checkpoint"
    )


def test_a_corrupt_checkpoint_stops_before_any_image(
    written_checkpoints: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = tmp_path / "weights"
    shutil.copytree(written_checkpoints, damaged)
    blob = (damaged / "mobile_sam.pt").read_bytes()
    (damaged / "mobile_sam.pt").write_bytes(blob[: len(blob) // 3])
    status, log = _run(_real_args(damaged, tmp_path / "out", "--find", "cat"), caplog)
    assert status == 2
    assert "mobile_sam.pt" in log and "truncated" in log and "visionanything weights fetch" in log
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("find", "message"),
    [
        ("", "vocabulary is empty"),
        (" , ; ", "vocabulary is empty"),
        (", ".join(f"thing{i}" for i in range(40)), "too many"),
        ("supercalifragilisticexpialidocious", None),
        (", ".join(f"{'qzxv' * 9}{chr(97 + i)}" for i in range(20)), "too long for the detector"),
    ],
)
def test_vocabulary_problems_are_clear_errors(
    written_checkpoints: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    find: str,
    message: str | None,
) -> None:
    status, log = _run(_real_args(written_checkpoints, tmp_path, "--find", find), caplog)
    if message is None:  # one long unknown word is fine: it is split into word pieces
        assert status == 0
    else:
        assert status == 2
        assert message in log


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--detector-size", "5"], "--detector-size 5 must lie in 64..2048"),
        (["--max-side", "1"], "--max-side 1 must lie in 64..16384"),
    ],
)
def test_absurd_sizes_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, extra: list[str], message: str
) -> None:
    args = ["segment", str(SKIMAGE_DATA / "chelsea.png"), "--find", "cat", "--models", "random"]
    status, log = _run([*args, "--out", str(tmp_path), *extra], caplog)
    assert status == 2 and message in log


def test_unsupported_segmenter_size_is_an_argument_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["segment", "x.png", "--find", "cat", "--size", "300", "--out", str(tmp_path)])
    assert exited.value.code == 2


def test_tiny_and_huge_images_are_skipped_with_reasons(
    written_checkpoints: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((2, 300, 3), np.uint8)).save(tiny)
    big = tmp_path / "big.jpg"
    Image.fromarray(np.asarray(Image.fromarray(data.rocket()).resize((2600, 1800)))).save(big)
    args = _real_args(
        written_checkpoints, tmp_path / "out", "--find", "rocket", "--max-side", "640"
    )
    args[1:2] = [str(tiny), str(big)]
    status, log = _run(args, caplog)
    assert status == 1
    assert "tiny.png" in log and "too small" in log
    report = json.loads((tmp_path / "out" / "big.json").read_text())
    assert max(report["image"]["width"], report["image"]["height"]) == 640
    assert report["image"]["original_width"] == 2600
    assert report["image"]["scale"] == pytest.approx(640 / 2600, rel=0.01)
