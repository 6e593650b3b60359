"""A detector from its checked checkpoint folder (never from a hub)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
    GroundingDinoImageProcessor,
)

from inference.detection.detector import Detector, DetectorSettings
from inference.detection.kinds import DetectorKind, detector_kind
from inference.weights.checkpoints import FETCH_COMMAND, CheckpointError, Manifest, require

# -- builders ----------------------------------------------------------------------------------

log = logging.getLogger(__name__)


def load_detector(
    manifest: Manifest,
    device: torch.device,
    settings: DetectorSettings | None = None,
    *,
    runtime: str = "torch",
) -> Detector:
    """The detector `settings.model` names (default Grounding DINO), from the checked
    checkpoint files its manifest group lists (`DetectorKind.group`).

    Raises `CheckpointError` naming the directory (or file) and `visionanything weights fetch`
    when a file is missing, fails its hash, holds the other detector's checkpoint, or does not
    load.
    """
    kind = detector_kind((settings or DetectorSettings()).model)
    directory: Path = require(manifest, kind.group)
    hint = f"Run `{FETCH_COMMAND} --only {kind.group}` to download it again."
    _check_model_type(directory, kind, hint)
    try:
        loaded: Any = kind.model_class.from_pretrained(
            directory, local_files_only=True, dtype=torch.float32, output_loading_info=True
        )
        model, info = loaded
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        image_processor = GroundingDinoImageProcessor.from_pretrained(
            directory, local_files_only=True
        )
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"cannot load the detector from {directory}: {type(exc).__name__}: {reason}. {hint}"
        ) from exc
    missing = list(info.get("missing_keys", ())) + list(info.get("mismatched_keys", ()))
    if missing:
        shown = ", ".join(str(key) for key in missing[:3])
        raise CheckpointError(
            f"the detector checkpoint in {directory} lacks {len(missing)} weights "
            f"(e.g. {shown}). {hint}"
        )
    detector = Detector(
        model,
        tokenizer,
        image_processor,
        device,
        settings,
        weights="checkpoint",
        source=str(directory),
        name=directory.name,
        runtime=runtime,
    )
    log.info("detector: %s (%s) from %s on %s", kind.title, detector.name, directory, device)
    return detector


def _check_model_type(directory: Path, kind: DetectorKind, hint: str) -> None:
    """Refuse a checkpoint of the other detector before loading it: transformers would load
    MM-Grounding-DINO's weights into Grounding DINO's classes with only a log line (dropping the
    class heads' biases), and the detections would be quietly wrong."""
    path = directory / "config.json"
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"cannot load the detector from {directory}: {path.name} is unreadable ({exc}). {hint}"
        ) from exc
    if model_type != kind.model_type:
        raise CheckpointError(
            f"{directory} holds a {model_type!r} checkpoint, but {kind.name} needs "
            f"{kind.model_type!r}; put the {kind.title} files there. {hint}"
        )
