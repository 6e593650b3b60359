"""What one can choose among the models: weights, detectors and runtimes.

Names only, no model code: the CLI lists them (`--help`) without importing torch, and the model
packages (`inference.detection`, `inference.segmentation`) check their arguments against them
without importing `inference.models`, which builds from them.
"""

from __future__ import annotations

from typing import Literal

ModelSource = Literal["real", "random"]
MODEL_SOURCES: tuple[ModelSource, ...] = ("real", "random")
ENCODER_RUNTIMES = ("auto", "torch", "openvino", "onnxruntime", "openvino-bf16")
"""Segmenter encoder runtimes (`inference.segmentation.encoder_runtimes`), here so the CLI lists
them without importing torch."""
DETECTOR_RUNTIMES = ("auto", "torch", "fast", "openvino")
"""Detector runtimes (`inference.detection.runtime`); `resolve_detector_runtime` picks "auto"."""
DETECTOR_GROUPS = {
    "grounding-dino-tiny": "grounding_dino",
    "mm-grounding-dino-tiny": "mm_grounding_dino",
}
"""The detectors one can choose (`--detector`), each with its checkpoint group in the manifest
(its files live in `weights/<name>/`). Here, not in `inference.detection.detector`, so that the
CLI lists them without importing torch; `inference.detection.detector.DETECTOR_KINDS` holds
their model classes."""
DETECTOR_MODELS: tuple[str, ...] = tuple(DETECTOR_GROUPS)
DEFAULT_DETECTOR = "grounding-dino-tiny"
