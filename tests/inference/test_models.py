"""Picking the detector runtime, and load_models applying it."""

from __future__ import annotations

import pytest
import torch

from inference.detection import runtime as detector_runtime
from inference.models import load_models, resolve_detector_runtime

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("name", "device", "openvino", "expected"),
    [
        ("auto", CPU, "2026.4", "openvino"),
        ("auto", CPU, None, "fast"),
        ("auto", CUDA, "2026.4", "fast"),
        ("torch", CPU, "2026.4", "torch"),
        ("fast", CPU, None, "fast"),
        ("openvino", CPU, "2026.4", "openvino"),
    ],
)
def test_detector_runtime_resolution(
    monkeypatch: pytest.MonkeyPatch, name: str, device: torch.device, openvino: str | None,
    expected: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(detector_runtime, "openvino_version", lambda: openvino)
    assert resolve_detector_runtime(name, device) == expected


def test_an_unknown_detector_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="fast"):
        resolve_detector_runtime("tensorrt", CPU)


def test_load_models_applies_the_detector_runtime() -> None:
    models = load_models("random", CPU, segmenter_size=256, detector_runtime="fast")
    assert models.detector.runtime == "fast"
    assert models.describe()["detector"]["runtime"] == "fast"
