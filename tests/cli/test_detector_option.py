"""`--detector`: every command that builds models offers it, and the choice reaches the builders
(`visionanything.commands.options.detector_settings` / `models_from_args`)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import GroundingDinoForObjectDetection, MMGroundingDinoForObjectDetection

from inference.choices import DEFAULT_DETECTOR, DETECTOR_MODELS
from inference.detection.detector import DetectorSettings
from inference.detection.random_weights import build_random_detector
from inference.segmentation.mobile_sam_model import build_mobile_sam_vit_t
from inference.weights.checkpoints import FETCH_COMMAND, CheckpointError, sha256_of
from visionanything.cli import build_parser
from visionanything.commands.options import detector_settings, models_from_args

MM = "mm-grounding-dino-tiny"
# the arguments each command needs besides --detector
COMMANDS = {
    "serve": ["serve"],
    "segment": ["segment", "photo.png", "--find", "cat", "--out", "out"],
    "eval": ["eval", "--images", "images", "--annotations", "annotations.json"],
    "worker": ["worker", "--redis", "redis://127.0.0.1:1/0"],
    "bench": ["bench"],
}


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_model_command_takes_the_detector_choice(command: str) -> None:
    assert parse(COMMANDS[command]).detector == DEFAULT_DETECTOR == "grounding-dino-tiny"
    chosen = parse([*COMMANDS[command], "--detector", MM])
    assert chosen.detector == MM
    # bench builds its models itself (tests/inference/bench/test_benchmark.py)
    if command != "bench":
        settings = detector_settings(chosen)
        assert settings.model == MM and settings.shortest_edge == chosen.detector_size


def test_an_unknown_detector_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse([*COMMANDS["serve"], "--detector", "owlv2"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'owlv2'" in err and all(name in err for name in DETECTOR_MODELS)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("choice", "model_class"),
    [(MM, MMGroundingDinoForObjectDetection), (None, GroundingDinoForObjectDetection)],
)
def test_models_from_args_builds_the_chosen_architecture(
    choice: str | None, model_class: type, caplog: pytest.LogCaptureFixture
) -> None:
    """`--models random` builds the chosen detector at full size, with random weights."""
    argv = [*COMMANDS["segment"], "--models", "random", "--runtime", "torch"]
    argv += ["--detector-runtime", "fast"] + (["--detector", choice] if choice else [])
    with caplog.at_level(logging.WARNING):
        models = models_from_args(parse(argv), torch.device("cpu"))
    detector = models.detector
    assert type(detector.model) is model_class
    expected = choice or DEFAULT_DETECTOR
    info: Any = models.describe()["detector"]
    assert info["detector"] == expected and info["name"] == expected
    assert info["settings"]["model"] == expected and info["runtime"] == "fast"
    assert info["weights"] == "random" and models.random and "RANDOM WEIGHTS" in caplog.text
    assert info["num_queries"] == 900 and info["parameters"] > 100_000_000


@pytest.fixture(scope="module")
def mm_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder as `weights fetch --only mobile_sam mm_grounding_dino` would leave it,
    with random-init files the test wrote, listed as weights/manifest.json lists them (the
    Grounding DINO group listed too, but never fetched)."""
    weights = tmp_path_factory.mktemp("weights")
    torch.manual_seed(7)
    torch.save(build_mobile_sam_vit_t(1024).state_dict(), weights / "mobile_sam.pt")
    detector = build_random_detector(torch.device("cpu"), DetectorSettings(model=MM), tiny=True)
    folder = weights / MM
    detector.model.save_pretrained(folder)
    detector.tokenizer.save_pretrained(folder)
    detector.image_processor.save_pretrained(folder)
    files: list[dict[str, object]] = [
        {
            "group": "mobile_sam" if path.name == "mobile_sam.pt" else "mm_grounding_dino",
            "file": str(path.relative_to(weights)),
            "url": f"http://127.0.0.1:9/{path.name}",
            "revision": "test",
            "size": path.stat().st_size,
            "sha256": sha256_of(path),
            "optional": path.name != "mobile_sam.pt",
        }
        for path in sorted(weights.rglob("*"))
        if path.is_file()
    ]
    files.append(
        {
            "group": "grounding_dino",
            "file": "grounding-dino-tiny/model.safetensors",
            "url": "http://127.0.0.1:9/model.safetensors",
            "revision": "test",
            "size": None,
            "sha256": None,
        }
    )
    (weights / "manifest.json").write_text(json.dumps({"files": files}))
    return weights


def real_args(weights: Path, *extra: str) -> argparse.Namespace:
    argv = [*COMMANDS["segment"], "--models", "real", "--manifest", str(weights / "manifest.json")]
    return parse([*argv, "--runtime", "torch", "--detector-runtime", "fast", *extra])


def test_real_models_load_the_chosen_detectors_files(mm_weights: Path) -> None:
    models = models_from_args(real_args(mm_weights, "--detector", MM), torch.device("cpu"))
    assert type(models.detector.model) is MMGroundingDinoForObjectDetection
    assert models.detector.source == str(mm_weights / MM) and not models.random
    assert models.detector.runtime == "fast" and models.detector.settings.model == MM


def test_the_default_detector_is_missing_with_a_clear_message(mm_weights: Path) -> None:
    with pytest.raises(CheckpointError) as caught:
        models_from_args(real_args(mm_weights), torch.device("cpu"))
    message = str(caught.value)
    assert "cannot load grounding_dino" in message and "model.safetensors is missing" in message
    assert f"Run `{FETCH_COMMAND}` to download it" in message
