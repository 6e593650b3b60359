"""`visionanything weights prebuild`: builds, ahead of time, exactly the graphs `serve` looks up
(the encoder's exported runtime, the detector's OpenVINO image side for a phone's landscape
and portrait frames), printing which graph, k of n and seconds. Checked by counting the
conversions: prebuild converts each graph once, and a fresh serve built from the same options
then converts nothing. Tiny random models stand in for `models_from_args` in both commands
(the same stand-in, so what is compared is which graphs each command asks for)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from inference.core import dependency_guards
from inference.core.directories import CACHE_ENV
from inference.detection.random_weights import build_random_detector
from inference.graphs import background_builds
from inference.graphs import cache as graph_cache
from inference.live.prebuild import GraphJob, Plan, detector_input_size, prebuild
from inference.models import Models
from inference.segmentation.segmenter import build_random_segmenter
from stream.edge.loading import LoadingStep, LoadProgress
from visionanything.cli import build_parser, main
from visionanything.commands import options, serve, serve_loading

CPU = torch.device("cpu")
SEGMENTER_SIZE = 256  # the stand-in's encoder size, whatever --size says (cheap to export)


def test_progress_says_which_graph_k_of_n_and_seconds_and_goes_on_past_a_failure() -> None:
    ticks = iter([0.0, 12.5, 20.0, 20.5, 30.0, 31.25])
    lines: list[str] = []

    def broken() -> tuple[Any, str]:
        raise RuntimeError("no conversion rule for aten::cummax")

    plan = Plan(
        (
            GraphJob("encoder", lambda: ("built", "runtime openvino")),
            GraphJob("detector landscape", broken),
            GraphJob("detector portrait", lambda: ("cached", "/cache/x")),
        ),
        notes=("a note",),
    )
    results = prebuild(plan, lines.append, clock=lambda: next(ticks))
    assert lines == [
        "a note",
        "[1/3] encoder …",
        "[1/3] built in 12.5 s: runtime openvino",
        "[2/3] detector landscape …",
        "[2/3] FAILED in 0.5 s: RuntimeError: no conversion rule for aten::cummax",
        "[3/3] detector portrait …",
        "[3/3] already in the cache in 1.2 s: /cache/x",
    ]
    assert [r.outcome for r in results] == ["built", "failed", "cached"]


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """Every OpenVINO conversion (encoder and detector both go through `convert_quietly`),
    into a graph cache of this test's own."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "graphs"))
    real = dependency_guards.convert_quietly
    seen: list[str] = []

    def counting(module: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(type(module).__name__)
        return real(module, *args, **kwargs)

    monkeypatch.setattr(dependency_guards, "convert_quietly", counting)
    yield seen


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`models_from_args` in both commands: tiny random models of the options' detector and
    sizes; records what each command asked for."""
    calls: list[dict[str, Any]] = []

    def tiny_models(
        args: argparse.Namespace, device: torch.device, *, runtime: str | None = None
    ) -> Models:
        calls.append(
            {
                "models": args.models,
                "size": args.size,
                "detector": getattr(args, "detector", None),
                "detector_size": args.detector_size,
                "runtime": args.runtime,
                "detector_runtime": args.detector_runtime,
                "manifest": args.manifest,
                "runtime_override": runtime,
            }
        )
        detector = build_random_detector(
            device, options.detector_settings(args), tiny=True, runtime=args.detector_runtime
        )
        return Models(detector, build_random_segmenter(device, SEGMENTER_SIZE, seed=0))

    monkeypatch.setattr(options, "models_from_args", tiny_models)
    monkeypatch.setattr(serve, "models_from_args", tiny_models)
    return calls


class RecordingProgress(LoadProgress):
    def __init__(self) -> None:
        super().__init__(serve_loading.LOAD_STEPS)
        self.begun: list[str] = []

    def begin(self, name: str) -> LoadingStep:
        self.begun.append(name)
        return super().begin(name)


def _wait_for_background_builds(timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while background_builds.builds_running():
        assert time.monotonic() < deadline, background_builds.running_builds()
        time.sleep(0.1)


MODEL_OPTIONS = [
    "--models",
    "random",
    "--device",
    "cpu",
    "--runtime",
    "openvino",
    "--detector-runtime",
    "openvino",
    "--detector-size",
    "96",
]


def test_after_prebuild_serve_converts_nothing(
    conversions: list[str],
    asked: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["weights", "prebuild", *MODEL_OPTIONS]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1] == f"[1/3] segmenter encoder {SEGMENTER_SIZE} (openvino) …", out
    assert lines[2].startswith("[1/3] built in ") and "runtime openvino" in lines[2]
    assert lines[3] == (
        "[2/3] detector OpenVINO image side, landscape 640x480 frames (input 128x96) …"
    )
    assert lines[4].startswith("[2/3] built in ")
    assert lines[5] == (
        "[3/3] detector OpenVINO image side, portrait 480x640 frames (input 96x128) …"
    )
    assert lines[-1].startswith("3 graph(s): 3 built, 0 already cached, 0 failed")
    assert len(conversions) == 3  # the encoder and two detector input sizes
    cached = graph_cache.scan(tmp_path / "graphs").entries
    assert len(cached) == 3, cached

    # a second prebuild finds everything
    assert main(["weights", "prebuild", *MODEL_OPTIONS]) == 0
    assert "0 built, 3 already cached" in capsys.readouterr().out and len(conversions) == 3

    # serve, from scratch with the same options, loads every graph it builds in the background
    args = build_parser().parse_args(
        ["serve", *MODEL_OPTIONS, "--torch-threads", str(torch.get_num_threads())]
    )
    progress = RecordingProgress()
    engine: Any = serve._engine_factory(args, progress)()
    try:
        _wait_for_background_builds()
        assert len(conversions) == 3, conversions  # none since the prebuild
        models = engine.models
        assert models.segmenter.runtime == "openvino"  # swapped in from the cache
        runner = models.detector.runner
        assert runner.conversions == 0
        for frame in ((480, 640), (640, 480)):
            size = detector_input_size(models.detector, frame)
            assert runner.openvino_failure(size) is None and runner.cache_path(size).is_dir()
        assert progress.begun == ["importing", "models", "warming up", "engine"]
    finally:
        engine.stop()
    assert len(graph_cache.scan(tmp_path / "graphs").entries) == 3
    # both commands asked models_from_args for the same models, on the eager runtime first
    assert len(asked) == 3 and asked[0] == asked[1] == asked[2]
    assert asked[0]["runtime_override"] == "torch"


def test_prebuild_of_missing_checkpoints_names_the_fetch_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "manifest.json"
    files = [
        {"group": group, "file": f"{group}.bin", "url": "https://example.invalid/x", "size": 4}
        for group in ("mobile_sam", "grounding_dino")
    ]
    manifest.write_text(json.dumps({"files": files}))
    status = main(["weights", "prebuild", "--device", "cpu", "--manifest", str(manifest)])
    captured = capsys.readouterr()
    assert status == 1
    assert "weights fetch" in captured.err and "Traceback" not in captured.err


def test_prebuild_takes_serves_model_options_and_defaults() -> None:
    prebuild_args = build_parser().parse_args(["weights", "prebuild"])
    serve_args = build_parser().parse_args(["serve"])
    for name in ("models", "size", "detector_size", "runtime", "detector_runtime", "device"):
        assert getattr(prebuild_args, name) == getattr(serve_args, name), name
    assert getattr(prebuild_args, "detector", None) == getattr(serve_args, "detector", None)
