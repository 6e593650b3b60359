"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from inference.choices import (
    DEFAULT_DETECTOR,
    DETECTOR_GROUPS,
    DETECTOR_MODELS,
    DETECTOR_RUNTIMES,
    ENCODER_RUNTIMES,
    MODEL_SOURCES,
)
from inference.core.device import DEVICE_CHOICES
from inference.models import load_models
from inference.weights.checkpoints import Manifest
from stream.loadtest.clip import parse_size

SERVE_DETECTOR_SIZE = 512
"""serve's --detector-size default; `weights prebuild` takes the same, or its graphs would be
for another input size."""

if TYPE_CHECKING:
    import torch

    from inference.detection.detector import DetectorSettings
    from inference.models import Models

SEGMENTER_SIZES = (512, 1024)


def add_model_options(
    parser: argparse.ArgumentParser, *, detector_size: int, random_use: str
) -> None:
    """--models, --detector, --device, --size, --detector-size, --manifest and --runtime."""
    parser.add_argument(
        "--models",
        choices=MODEL_SOURCES,
        default="real",
        help=f"real: checkpoints under weights/; random: random weights ({random_use})",
    )
    add_detector_option(parser)
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument(
        "--size",
        type=int,
        choices=SEGMENTER_SIZES,
        default=512,
        help="segmenter encoder input size (512 is ~6x cheaper on CPU)",
    )
    parser.add_argument(
        "--detector-size",
        type=int,
        default=detector_size,
        help="shortest edge of the detector input in pixels (smaller is faster)",
    )
    parser.add_argument("--manifest", type=Path, default=None, help="checkpoint manifest")
    add_runtime_option(parser)


def add_detector_option(parser: argparse.ArgumentParser) -> None:
    """--detector: which open-vocabulary detector to build
    (`inference.detection.detector.DETECTOR_KINDS`)."""
    groups = ", ".join(f"{name}: {group}" for name, group in DETECTOR_GROUPS.items())
    parser.add_argument(
        "--detector",
        choices=DETECTOR_MODELS,
        default=DEFAULT_DETECTOR,
        help="open-vocabulary detector. grounding-dino-tiny: IDEA-Research's Grounding DINO "
        "(default); mm-grounding-dino-tiny: OpenMMLab's MM-Grounding-DINO, the same architecture "
        "retrained (published zero-shot LVIS minival AP 41.4 against 28.8), same cost. Every "
        "--detector-runtime serves both. With --models real its checkpoint group must be fetched "
        f"(`visionanything weights fetch --only GROUP`; {groups})",
    )


def add_runtime_option(parser: argparse.ArgumentParser) -> None:
    """--runtime (the segmenter encoder's, `inference.segmentation.encoder_runtimes`) and
    --detector-runtime (`inference.detection.runtime`)."""
    parser.add_argument(
        "--runtime",
        choices=ENCODER_RUNTIMES,
        default="auto",
        help="segmenter encoder runtime. auto: OpenVINO f32 on a CPU when installed, else ONNX "
        "Runtime, else torch; torch on CUDA. openvino-bf16 is lossy (~2x faster on CPUs with "
        "bf16) and falls back to f32 unless its masks match. Exported graphs are cached under "
        "$VISIONANYTHING_CACHE_DIR (default ~/.cache/visionanything)",
    )
    parser.add_argument(
        "--detector-runtime",
        choices=DETECTOR_RUNTIMES,
        default="auto",
        help="detector runtime. torch: transformers' forward; fast: text side cached per "
        "vocabulary and a leaner image side; openvino: that image side converted once per input "
        "size (cached like --runtime); auto: openvino on a CPU when installed, else fast",
    )


def frame_size(text: str) -> tuple[int, int]:
    """argparse type for "640x480" → (width, height)."""

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def detector_settings(args: argparse.Namespace) -> DetectorSettings:
    """The detector --detector names, its input size from --detector-size (the longest edge in
    a 3:5 proportion). Every command that builds a detector reads it here."""
    from inference.detection.detector import DetectorSettings

    return DetectorSettings(
        shortest_edge=args.detector_size,
        longest_edge=max(args.detector_size * 5 // 3, 64),
        model=getattr(args, "detector", DEFAULT_DETECTOR),
    )


def models_from_args(
    args: argparse.Namespace, device: torch.device, *, runtime: str | None = None
) -> Models:
    """The models `add_model_options` describes (checkpoints or random weights); `runtime`
    replaces --runtime (serve starts on "torch" and builds --runtime in the background)."""

    return load_models(
        args.models,
        device,
        segmenter_size=args.size,
        detector_settings=detector_settings(args),
        manifest=Manifest.load(args.manifest) if args.models == "real" else None,
        runtime=runtime or args.runtime,
        detector_runtime=args.detector_runtime,
    )
