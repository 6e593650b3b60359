"""The model pair every front end needs, built from checkpoints or with random weights."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inference.choices import MODEL_SOURCES, ModelSource
from inference.weights.checkpoints import Manifest

if TYPE_CHECKING:  # the model code imports torch and transformers: seconds, so only on use
    import torch

    from inference.detection.detector import Detector, DetectorSettings
    from inference.segmentation.segmenter import Segmenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Models:
    detector: Detector
    segmenter: Segmenter

    @property
    def random(self) -> bool:
        return "random" in (self.detector.describe()["weights"], self.segmenter.weights)

    def describe(self) -> dict[str, dict[str, object]]:
        return {"detector": self.detector.describe(), "segmenter": self.segmenter.describe()}


def load_models(
    source: ModelSource,
    device: torch.device,
    *,
    segmenter_size: int = 512,
    detector_settings: DetectorSettings | None = None,
    manifest: Manifest | None = None,
    seed: int = 0,
    runtime: str = "torch",
    encoder_cache_dir: Path | None = None,
    detector_runtime: str = "torch",
) -> Models:
    """`real`: checked checkpoints from the manifest (never downloaded here); `random`: the same
    architectures with random weights, reported as such in logs and outputs.

    runtime: the segmenter encoder's runtime ("auto", "torch", "openvino", "onnxruntime",
    "openvino-bf16"; see `inference.segmentation.encoder_runtimes`), exported graphs kept under
    `encoder_cache_dir` (default `default_cache_dir()`). The commands default to "auto".
    detector_runtime: "auto", "torch" (transformers' forward as is), "fast" (text side cached per
    vocabulary, our image-side module) or "openvino" (that module converted per input size,
    cached on disk); see `resolve_detector_runtime`. All three serve both detectors.
    detector_settings.model picks the detector (`DETECTOR_MODELS`; default Grounding DINO):
    its architecture with random weights, or its checkpoint group from the manifest.
    """
    from inference.detection.loading import load_detector
    from inference.detection.random_weights import build_random_detector
    from inference.segmentation.encoder_runtimes import check_runtime, use_runtime
    from inference.segmentation.segmenter import build_random_segmenter, load_segmenter

    check_runtime(runtime)
    detector_runtime = resolve_detector_runtime(detector_runtime, device)
    if source == "random":
        log.warning("models: RANDOM WEIGHTS - results show the pipeline working, not real objects")
        detector = build_random_detector(device, detector_settings, seed=seed)
        segmenter = build_random_segmenter(device, segmenter_size, seed=seed)
    elif source == "real":
        manifest = manifest or Manifest.load()
        detector = load_detector(manifest, device, detector_settings)
        segmenter = load_segmenter(manifest, device, segmenter_size)
    else:
        raise ValueError(f"unknown model source {source!r}; choose one of {MODEL_SOURCES}")
    use_runtime(segmenter, runtime, cache_dir=encoder_cache_dir)  # logs the runtime it chose
    if detector_runtime != detector.runtime:
        detector = detector.with_runtime(detector_runtime)
    log.info("detector runtime: %s", detector_runtime)
    return Models(detector, segmenter)


def resolve_detector_runtime(name: str, device: torch.device) -> str:
    """The detector runtime to use for `name` on `device`.

    "auto" is "openvino" on a CPU when OpenVINO imports (measured ~2x faster than transformers'
    forward at 384 on 2 cores, same outputs within 1e-4), else "fast"; "fast" on CUDA (OpenVINO
    runs on the CPU only). Other names pass through after checking."""
    from inference.detection.runtime import check_runtime, openvino_version

    if name != "auto":
        return check_runtime(name)
    if device.type == "cpu" and openvino_version() is not None:
        return "openvino"
    return "fast"
