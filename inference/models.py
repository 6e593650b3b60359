"""The model pair every front end needs, built from checkpoints or with random weights."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from inference.checkpoints import Manifest

if TYPE_CHECKING:  # the model code imports torch and transformers: seconds, so only on use
    import torch

    from inference.detector import Detector, DetectorSettings
    from inference.segmenter import Segmenter

log = logging.getLogger(__name__)

ModelSource = Literal["real", "random"]
MODEL_SOURCES: tuple[ModelSource, ...] = ("real", "random")


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
) -> Models:
    """`real`: checked checkpoints from the manifest (never downloaded here); `random`: the same
    architectures with random weights, reported as such in logs and outputs."""
    from inference.detector import build_random_detector, load_detector
    from inference.segmenter import build_random_segmenter, load_segmenter

    if source == "random":
        log.warning("models: RANDOM WEIGHTS - results show the pipeline working, not real objects")
        return Models(
            build_random_detector(device, detector_settings, seed=seed),
            build_random_segmenter(device, segmenter_size, seed=seed),
        )
    if source != "real":
        raise ValueError(f"unknown model source {source!r}; choose one of {MODEL_SOURCES}")
    manifest = manifest or Manifest.load()
    return Models(
        load_detector(manifest, device, detector_settings),
        load_segmenter(manifest, device, segmenter_size),
    )
