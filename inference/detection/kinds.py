"""The detectors one can choose: their transformers classes, checkpoint group and model type."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    GroundingDinoConfig,
    GroundingDinoForObjectDetection,
    MMGroundingDinoConfig,
    MMGroundingDinoForObjectDetection,
)

from inference.choices import DETECTOR_GROUPS, DETECTOR_MODELS

DetectionModel = GroundingDinoForObjectDetection | MMGroundingDinoForObjectDetection


@dataclass(frozen=True)
class DetectorKind:
    """One detector that can be chosen: its architecture and where its checkpoint lives.

    name:         the `--detector` choice and the folder under weights/ ("grounding-dino-tiny")
    group:        the manifest group of its files (`inference.models.DETECTOR_GROUPS`)
    model_type:   what its checkpoint's config.json must say it is ("grounding-dino", ...)
    model_class / config_class: the transformers classes that build it
    title:        how logs and reports name it
    """

    name: str
    group: str
    model_type: str
    model_class: type[DetectionModel]
    config_class: type[GroundingDinoConfig] | type[MMGroundingDinoConfig]
    title: str


DETECTOR_KINDS: dict[str, DetectorKind] = {
    kind.name: kind
    for kind in (
        DetectorKind(
            name="grounding-dino-tiny",
            group=DETECTOR_GROUPS["grounding-dino-tiny"],
            model_type="grounding-dino",
            model_class=GroundingDinoForObjectDetection,
            config_class=GroundingDinoConfig,
            title="Grounding DINO",
        ),
        DetectorKind(
            name="mm-grounding-dino-tiny",
            group=DETECTOR_GROUPS["mm-grounding-dino-tiny"],
            model_type="mm-grounding-dino",
            model_class=MMGroundingDinoForObjectDetection,
            config_class=MMGroundingDinoConfig,
            title="MM-Grounding-DINO",
        ),
    )
}
assert tuple(DETECTOR_KINDS) == DETECTOR_MODELS, "inference.models lists the same detectors"


def detector_kind(name: str) -> DetectorKind:
    """The `DetectorKind` called `name`; ValueError naming the choices otherwise."""
    try:
        return DETECTOR_KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_KINDS)}"
        ) from None


def kind_of(model: torch.nn.Module) -> DetectorKind:
    """The `DetectorKind` a built model is (by its exact class: MM-Grounding-DINO's classes do
    not derive from Grounding DINO's, and neither may stand in for the other)."""
    for kind in DETECTOR_KINDS.values():
        if type(model) is kind.model_class:
            return kind
    raise ValueError(
        f"{type(model).__name__} is not a detector this project runs; "
        f"expected one of {', '.join(k.model_class.__name__ for k in DETECTOR_KINDS.values())}"
    )
