"""The detector's fast runtimes against transformers' forward ("torch", the reference).

"fast" (text side cached per vocabulary + our image-side module in PyTorch) must give the same
outputs as transformers; "openvino" (that module converted, f32) the same within float rounding.
Both detectors one can choose run through them: every test on the `detector` fixture runs on a
tiny random Grounding DINO and a tiny random MM-Grounding-DINO, whose class head differs.
Tiny random models for most checks, full-size random models at a small input.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from skimage import data
from torch import nn

from inference.bench.compare_detector import compare_detector_paths
from inference.choices import DETECTOR_MODELS
from inference.detection import grounding_dino_image_side
from inference.detection import runtime as detector_runtime
from inference.detection.detector import Detector, DetectorSettings
from inference.detection.grounding_dino_image_side import (
    GroundingDinoImageSide,
    class_head_style,
    sample_levels,
    supports_image_side,
)
from inference.detection.random_weights import build_random_detector
from inference.detection.runtime import CONVERT_MESSAGE, NOISE_FLOOR, ImageSideRunner, check_runtime
from inference.models import resolve_detector_runtime

CPU = torch.device("cpu")
SMALL = DetectorSettings(shortest_edge=160, longest_edge=256)
VOCABULARY = ("cat", "cup", "teddy bear")
OTHER = ("astronaut", "dog")
ALL = {"box_threshold": 0.0, "text_threshold": 0.0}

Frame = npt.NDArray[np.uint8]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=DETECTOR_MODELS)
def detector(request: pytest.FixtureRequest) -> Detector:
    """A tiny random model of each detector choice (the tests run once per choice)."""
    return build_random_detector(CPU, replace(SMALL, model=request.param), seed=0, tiny=True)


def frames(*sizes: tuple[int, int], seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def count_calls(module: nn.Module) -> list[int]:
    calls = [0]

    def hook(*_: object) -> None:
        calls[0] += 1

    module.register_forward_hook(hook)
    return calls


def assert_same_outputs(
    reference: tuple[torch.Tensor, torch.Tensor],
    got: tuple[torch.Tensor, torch.Tensor],
    atol: float,
) -> None:
    assert got[0].shape == reference[0].shape and got[1].shape == reference[1].shape
    assert (got[0] - reference[0]).abs().max().item() < atol
    assert (got[1] - reference[1]).abs().max().item() < atol


def assert_same_detections(reference: Detector, other: Detector, batch: list[Frame]) -> None:
    for want, got in zip(
        reference.detect(batch, VOCABULARY, **ALL),
        other.detect(batch, VOCABULARY, **ALL),
        strict=True,
    ):
        assert len(want) > 0 and got.labels == want.labels
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)


# -- "fast": same maths in PyTorch ------------------------------------------------------------


def test_fast_runtime_matches_transformers(detector: Detector) -> None:
    fast = detector.with_runtime("fast")
    batch = frames((300, 451), (200, 128))  # two sizes: the batch is padded, masks matter
    for vocabulary in (VOCABULARY, OTHER):
        reference = detector.raw_outputs(batch, vocabulary)
        assert reference[0].shape == (2, 30, detector.encode_text(vocabulary).token_count)
        assert_same_outputs(reference, fast.raw_outputs(batch, vocabulary), atol=1e-4)
    assert_same_detections(detector, fast, batch)


def test_text_side_is_cached_per_vocabulary(detector: Detector) -> None:
    settings = replace(SMALL, model=detector.kind.name)
    fast = build_random_detector(CPU, settings, seed=1, tiny=True, runtime="fast")
    bert_calls = count_calls(fast.model.model.text_backbone)
    frame = frames((120, 160))
    fast.detect(frame, VOCABULARY)
    assert bert_calls[0] == 1
    fast.detect(frame, list(VOCABULARY))
    fast.with_settings(box_threshold=0.1).detect(frame, VOCABULARY)  # shares the cache
    assert bert_calls[0] == 1 and fast.runner.text_side_runs == 1
    fast.detect(frame, OTHER)
    assert bert_calls[0] == 2
    fast.detect(frame, VOCABULARY)  # still cached (LRU of several vocabularies)
    assert bert_calls[0] == 2
    reference = fast.with_runtime("torch")
    reference.detect(frame, VOCABULARY)
    reference.detect(frame, VOCABULARY)
    assert bert_calls[0] == 4, "the reference path recomputes the text every call"


def test_warm_up_runs_one_detection(detector: Detector) -> None:
    fast = detector.with_runtime("fast")
    before = fast.runner.text_side_runs
    assert fast.warm_up((90, 120)) > 0
    assert fast.runner.text_side_runs == before + 1


def test_fp16_autocast_is_cuda_only(detector: Detector) -> None:
    batch = frames((120, 160))
    fast = detector.with_runtime("fast", fp16=True)
    try:
        assert fast.runner.fp16 and detector.runner.fp16  # shared runtime state
        assert_same_outputs(
            detector.raw_outputs(batch, VOCABULARY), fast.raw_outputs(batch, VOCABULARY), 1e-4
        )
    finally:
        detector.runner.fp16 = False


def test_runtime_names_are_checked(detector: Detector) -> None:
    assert check_runtime("openvino") == "openvino"
    with pytest.raises(ValueError, match="runtime"):
        detector.with_runtime("tensorrt")
    assert detector.with_runtime("fast").describe()["runtime"] == "fast"
    assert detector.with_runtime("fast").runner is detector.runner


def test_image_side_module_is_a_plain_module(detector: Detector) -> None:
    side = GroundingDinoImageSide(detector.model)
    assert isinstance(side, nn.Module)
    own = {id(p) for p in side.parameters()}
    assert own and own <= {id(p) for p in detector.model.parameters()}, "shares, never copies"


def test_each_detector_runs_its_own_class_head(detector: Detector) -> None:
    """MM-Grounding-DINO's class head scales the query·token products by 1/√D and adds a
    learned bias; run with Grounding DINO's bare product instead, its logits come out wrong.
    (For Grounding DINO, where the bare product is right, the swap changes nothing.)"""
    want = {"grounding-dino-tiny": "dot", "mm-grounding-dino-tiny": "scaled_bias"}
    style = class_head_style(detector.model.class_embed[-1])
    assert style == want[detector.kind.name]
    assert class_head_style(detector.model.model.encoder_output_class_embed) == style
    batch = frames((120, 160))
    reference = detector.raw_outputs(batch, VOCABULARY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grounding_dino_image_side, "class_head_style", lambda head: "dot")
        side = GroundingDinoImageSide(detector.model).eval()
        pixels = detector._preprocess(batch)
        text = detector.encode_text(VOCABULARY)
        text_side = detector.runner.text_side(text.words, text.input_ids, text.token_type_ids)
        with torch.inference_mode():
            logits, _ = side(pixels["pixel_values"], pixels["pixel_mask"], *text_side.expand(1))
    error = (logits - reference[0]).abs().max().item()
    if style == "dot":
        assert error < 1e-4
    else:
        assert error > 1.0, "the bias (-4.6 at init) and the scale must be applied"


def test_unknown_models_and_heads_are_refused(detector: Detector) -> None:
    assert supports_image_side(detector.model.config) is None
    other = SimpleNamespace(**{**detector.model.config.to_dict(), "model_type": "owlv2"})
    reason = supports_image_side(other)
    assert reason is not None and "owlv2" in reason
    with pytest.raises(ValueError, match="Linear"):
        class_head_style(nn.Linear(2, 2))


def test_deformable_sampling_matches_transformers_kernel() -> None:
    from transformers.models.grounding_dino.modeling_grounding_dino import (
        MultiScaleDeformableAttention,
    )

    generator = torch.Generator().manual_seed(0)
    shapes = [(12, 16), (6, 8), (3, 4)]
    total = sum(h * w for h, w in shapes)
    value = torch.randn(2, total, 4, 8, generator=generator)
    # points partly outside the maps (zero padding) and on pixel edges
    locations = torch.rand(2, 50, 4, 3, 2, 2, generator=generator) * 1.4 - 0.2
    locations[0, 0] = 0.5
    weights = torch.rand(2, 50, 4, 3, 2, generator=generator)
    weights = (weights / weights.sum(dim=(-1, -2), keepdim=True)).contiguous()
    spatial = torch.tensor(shapes)
    starts = torch.cat([spatial.new_zeros(1), spatial.prod(1).cumsum(0)[:-1]])
    want = MultiScaleDeformableAttention()(value, spatial, shapes, starts, locations, weights, 64)
    got = sample_levels(value, shapes, locations, weights)
    assert got.shape == want.shape == (2, 50, 32)
    assert (got - want).abs().max().item() < 1e-5 and want.abs().max().item() > 0.1


# -- "openvino": converted, cached on disk -----------------------------------------------------


def test_openvino_matches_and_its_cache_is_reused_or_rebuilt(
    detector: Detector,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = ImageSideRunner(detector.model, CPU, cache_dir=tmp_path)
    openvino = Detector(
        detector.model,
        detector.tokenizer,
        detector.image_processor,
        CPU,
        SMALL,
        weights="random",
        runtime="openvino",
        runner=runner,
    )
    batch = frames((300, 451))
    with caplog.at_level(logging.WARNING):
        got = openvino.raw_outputs(batch, VOCABULARY)
    assert CONVERT_MESSAGE in caplog.text
    assert runner.conversions == 1 and runner.openvino_failure((160, 240)) is None
    assert_same_outputs(detector.raw_outputs(batch, VOCABULARY), got, atol=1e-3)
    # the caption length and batch size are dynamic: no new conversion
    assert_same_outputs(
        detector.raw_outputs(batch * 2, OTHER), openvino.raw_outputs(batch * 2, OTHER), atol=1e-3
    )
    assert_same_detections(detector, openvino, batch)
    assert runner.conversions == 1
    directory = runner.cache_path((160, 240))
    assert (directory / "model.xml").is_file() and (directory / "model.bin").stat().st_size > 0

    # a new process (new runner) reads the cached model instead of converting
    again = ImageSideRunner(detector.model, CPU, cache_dir=tmp_path)
    second = openvino.with_runtime("openvino")
    second.runner = again
    assert_same_outputs(got, second.raw_outputs(batch, VOCABULARY), atol=1e-4)
    assert again.conversions == 0

    # a corrupt file is noticed and rebuilt
    data = bytearray((directory / "model.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (directory / "model.bin").write_bytes(bytes(data))
    rebuilt = ImageSideRunner(detector.model, CPU, cache_dir=tmp_path)
    converted = runner._converted[(160, 240)]
    reconverted: list[tuple[int, int]] = []

    def convert_again(ov: Any, size: tuple[int, int], *_: Any) -> Any:
        reconverted.append(size)  # the conversion itself was checked above: reuse its model
        return converted

    monkeypatch.setattr(rebuilt, "_convert", convert_again)
    second.runner = rebuilt
    with caplog.at_level(logging.WARNING):
        assert_same_outputs(got, second.raw_outputs(batch, VOCABULARY), atol=1e-4)
    assert reconverted == [(160, 240)] and "rebuilding" in caplog.text
    assert (directory / "model.bin").read_bytes() != bytes(data)  # written again, intact


def test_openvino_failure_falls_back_to_fast(
    detector: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = ImageSideRunner(detector.model, CPU, cache_dir=tmp_path)

    def broken(*_: object) -> None:
        raise RuntimeError("no conversion rule for aten::something")

    monkeypatch.setattr(runner, "_convert", broken)
    openvino = detector.with_runtime("openvino")
    openvino.runner = runner
    batch = frames((120, 160))
    got = openvino.raw_outputs(batch, VOCABULARY)
    failure = runner.openvino_failure((160, 213))
    assert failure is not None and "aten::something" in failure
    assert_same_outputs(detector.raw_outputs(batch, VOCABULARY), got, atol=1e-4)


def test_a_new_input_size_never_waits_for_its_conversion(
    detector: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live server's mode: the first frame of a size not built yet is answered on torch
    while the conversion runs in the background (held here until the answer is in); once it
    is built, the same frame gives the same detections on OpenVINO."""
    runner = ImageSideRunner(detector.model, CPU, cache_dir=tmp_path)
    runner.background_conversion = True
    release = threading.Event()
    real_convert = runner._convert

    def held_convert(*args: Any) -> Any:
        assert release.wait(60), "the answer did not come before the conversion"
        return real_convert(*args)

    monkeypatch.setattr(runner, "_convert", held_convert)
    openvino = detector.with_runtime("openvino")
    openvino.runner = runner
    batch = frames((144, 256))  # 16:9, a shape nothing has built
    before = openvino.raw_outputs(batch, VOCABULARY)  # answered while the build is held
    assert runner.conversions == 0 and list(runner._building) == [(144, 256)]
    assert_same_outputs(detector.raw_outputs(batch, VOCABULARY), before, atol=1e-4)
    release.set()
    assert runner.wait_for_builds(timeout=300)
    assert runner.conversions == 1 and runner.openvino_failure((144, 256)) is None
    calls: list[int] = []
    real_compiled = runner._compiled[((144, 256), 1)]

    def counted(inputs: Any) -> Any:
        calls.append(1)
        return real_compiled(inputs)

    runner._compiled[((144, 256), 1)] = counted
    after = openvino.raw_outputs(batch, VOCABULARY)
    assert calls == [1], "the built model answers once it is ready"
    assert_same_outputs(before, after, atol=1e-3)
    assert_same_detections(detector, openvino, batch)


def test_without_openvino_the_detector_runs_fast(
    detector: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenVINO is a dependency, but a machine where it does not import (a broken wheel, another
    CPU architecture) still detects, on the eager image side: the runtime's absence injected."""
    real_import = importlib.import_module

    def no_openvino(module: str, package: str | None = None) -> Any:
        if module.split(".")[0] == "openvino":
            raise ModuleNotFoundError("No module named 'openvino'")
        return real_import(module, package)

    monkeypatch.setattr(detector_runtime.importlib, "import_module", no_openvino)
    runner = ImageSideRunner(detector.model, CPU, cache_dir=tmp_path)
    openvino = detector.with_runtime("openvino")
    openvino.runner = runner
    batch = frames((120, 160))
    got = openvino.raw_outputs(batch, VOCABULARY)
    failure = runner.openvino_failure((160, 213))
    assert failure is not None and "No module named 'openvino'" in failure
    assert runner.conversions == 0 and not list(tmp_path.iterdir())
    assert_same_outputs(detector.raw_outputs(batch, VOCABULARY), got, atol=1e-4)
    assert resolve_detector_runtime("auto", CPU) == "fast"


# -- the benchmark's comparison ---------------------------------------------------------------


def test_compare_detector_paths_reports_each_path(
    detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    runner = detector.runner

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "_load_or_convert", broken)
    rows = compare_detector_paths(
        detector, sizes=(96,), repeats=1, runtimes=("fast", "openvino"), progress=lines.append
    )
    assert [(r.shortest_edge, r.path) for r in rows] == [
        (96, "before"),
        (96, "fast"),
        (96, "openvino"),
        (96, NOISE_FLOOR),
    ]
    before, fast, openvino, floor = rows
    assert floor.median_ms is None and floor.error is None and floor.queries_matched is not None
    assert before.error is None and before.median_ms is not None and before.median_ms > 0
    assert fast.error is None and fast.logits_max_abs_diff is not None
    assert fast.logits_max_abs_diff < 1e-4 and fast.same_labels is True
    assert fast.queries_matched == 1.0 and fast.matched_max_abs_diff is not None
    assert openvino.error is not None and "boom" in openvino.error  # reported, not raised
    assert fast.input_size == (96, 128) and lines


# -- full size, small input --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "runtimes"),
    [
        ("grounding-dino-tiny", ("fast", "openvino")),
        # the tiny MM model converts above; at full size its eager image side is what can
        # differ (its config class's own defaults), and a second conversion costs a minute
        ("mm-grounding-dino-tiny", ("fast",)),
    ],
)
def test_full_size_fast_and_openvino_match_transformers(
    tmp_path: Path, model: str, runtimes: tuple[str, ...]
) -> None:
    """Full size at 192×256 (the smallest input with the 900 encoder tokens the query selection
    needs). A random-weight model is chaotic on some inputs: rounding at 1e-7 can swap one of
    the ~4000 encoder tokens at the top-900 cut, which then moves other queries through the
    decoder's self-attention. So: a real photo, and queries compared up to order."""
    settings = DetectorSettings(shortest_edge=192, longest_edge=256, model=model)
    full = build_random_detector(CPU, settings, seed=0)
    batch = [np.ascontiguousarray(data.chelsea()[:300, :400])]
    reference = full.raw_outputs(batch, VOCABULARY)
    token_count = full.encode_text(VOCABULARY).token_count
    assert reference[0].shape == (1, 900, token_count)
    full.runner.cache_dir = tmp_path
    for path in (full.with_runtime(runtime) for runtime in runtimes):
        assert_matched(reference, path.raw_outputs(batch, VOCABULARY), atol=1e-3)
        assert_same_detections(full, path, batch)
    converted = "openvino" in runtimes
    assert full.runner.conversions == int(converted)
    assert full.runner.openvino_failure((192, 256)) is None


def assert_matched(
    reference: tuple[torch.Tensor, torch.Tensor],
    got: tuple[torch.Tensor, torch.Tensor],
    atol: float,
) -> None:
    """Same queries up to order: near-equal top-k scores may swap places between runtimes."""
    want = torch.cat([reference[0][0], reference[1][0]], -1)  # (Q, T + 4)
    have = torch.cat([got[0][0], got[1][0]], -1)
    distance = torch.cdist(have, want, p=float("inf")).min(dim=1).values
    assert (distance < atol).float().mean().item() > 0.99
