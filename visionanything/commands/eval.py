"""`visionanything eval --images DIR --annotations coco.json --out DIR`: measure the models.

Box-prompted mIoU and detection AP on a COCO-format set, then both on a darkened copy with and
without the lighting module (inference/bench/evaluation.py). Prints a table, writes eval.json and
eval.png (bar plot) into --out.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from inference.bench.evaluation import DEFAULT_BRIGHTNESS, evaluate, format_table, write_report
from inference.core.device import DeviceError, resolve_device
from inference.core.frames import ImageReadError
from inference.labels.vocabulary import VocabularyError, parse_vocabulary
from inference.weights.checkpoints import CheckpointError
from visionanything.commands.options import add_model_options, models_from_args

log = logging.getLogger("visionanything.eval")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="mIoU and AP on a COCO-format set, and the lighting module's gain in the dark",
        description="Evaluate box-prompted segmentation (mIoU) and detection (COCO AP) on a "
        "COCO-format image set, and on a darkened copy with and without the lighting module.",
    )
    parser.add_argument("--images", required=True, type=Path, help="folder with the images")
    parser.add_argument(
        "--annotations", required=True, type=Path, help="COCO instances JSON for them"
    )
    parser.add_argument("--out", type=Path, default=Path("eval"), help="output directory")
    parser.add_argument(
        "--vocabulary",
        default=None,
        help="words for the detector (default: the annotation file's category names)",
    )
    parser.add_argument(
        "--brightness",
        type=float,
        default=DEFAULT_BRIGHTNESS,
        help="the darkened copy's brightness, a fraction of the original",
    )
    add_model_options(parser, detector_size=800, random_use="testing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    try:
        vocabulary = parse_vocabulary(args.vocabulary) if args.vocabulary else None
        if not 0.0 < args.brightness <= 1.0:
            raise ValueError(f"--brightness {args.brightness} must lie in (0, 1]")
        if not 64 <= args.detector_size <= 2048:
            raise ValueError(f"--detector-size {args.detector_size} must lie in 64..2048")
        if not args.annotations.is_file():
            raise ValueError(f"no annotation file {args.annotations}")
        if not args.images.is_dir():
            raise ValueError(f"no image folder {args.images}")
        device = resolve_device(args.device)
        models = models_from_args(args, device)
    except (VocabularyError, DeviceError, CheckpointError, ValueError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    try:
        report = evaluate(
            models,
            args.images,
            args.annotations,
            vocabulary=vocabulary,
            brightness=args.brightness,
            progress=lambda line: log.info("%s", line),
        )
    except (ImageReadError, VocabularyError, ValueError, KeyError, OSError) as exc:
        log.error("evaluation failed: %s", exc)
        return EXIT_FAILED
    paths = write_report(report, args.out)
    print(format_table(report))
    if report["random_weights"]:
        print("(random weights: these numbers show the pipeline working, not the models)")
    log.info("wrote %s and %s", paths["json"], paths["plot"])
    return EXIT_OK
