"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse
from pathlib import Path

from inference.device import DEVICE_CHOICES
from inference.models import MODEL_SOURCES

SEGMENTER_SIZES = (512, 1024)


def add_model_options(
    parser: argparse.ArgumentParser, *, detector_size: int, random_use: str
) -> None:
    """--models, --device, --size, --detector-size and --manifest."""
    parser.add_argument(
        "--models",
        choices=MODEL_SOURCES,
        default="real",
        help=f"real: checkpoints under weights/; random: random weights ({random_use})",
    )
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


def frame_size(text: str) -> tuple[int, int]:
    """argparse type for "640x480" → (width, height)."""
    from stream.loadtest.clip import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
