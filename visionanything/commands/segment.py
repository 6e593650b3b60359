"""`visionanything segment IMAGE... --find "cat, cup" --out DIR`: still-image Grounded-MobileSAM.

For each image it writes NAME.overlay.png (what a person wants to look at), NAME.masks.png (one
value per object, 0 = background) and NAME.json (schema:
inference/schemas/segment_result.schema.json).
An unreadable image is reported and skipped; the exit status is 1 if any image failed.

`--mode everything` segments every object from a point grid (inference/segmentation/everything.py)
and names it from --find where the detector sees it, else "something". `--export
coco,masks,trimap` adds NAME.coco.json, NAME.mask<i>-<label>.png and NAME.trimap<i>-<label>.png
(inference/still/exports.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.core.device import DeviceError, resolve_device
from inference.core.frames import DEFAULT_MAX_SIDE, ImageReadError, read_image
from inference.core.timing import StageTimer
from inference.labels.vocabulary import VocabularyError, parse_vocabulary
from inference.lighting.thresholds import LightingSettings
from inference.overlay.renderer import OverlayRenderer
from inference.still.exports import DEFAULT_TRIMAP_BAND, parse_exports, write_exports
from inference.still.grounded_segmentation import segment_image
from inference.still.report import png_bytes, render_still, still_report
from inference.weights.checkpoints import CheckpointError
from visionanything.commands.options import add_model_options, models_from_args

if TYPE_CHECKING:
    from inference.models import Models

log = logging.getLogger("visionanything.segment")

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "segment",
        help="find and segment named objects in photos",
        description="Find the named objects in each photo, segment them and write an overlay "
        "PNG, a mask PNG and a JSON description per photo.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="JPEG/PNG/WebP files")
    parser.add_argument("--find", required=True, help='what to look for, e.g. "cat, cup"')
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    add_model_options(parser, detector_size=800, random_use="testing")
    parser.add_argument("--box-threshold", type=float, default=None)
    parser.add_argument("--text-threshold", type=float, default=None)
    parser.add_argument("--mask-threshold", type=float, default=None)
    parser.add_argument(
        "--no-preprocess",
        action="store_true",
        help="never brighten or equalise dark frames (thresholds still adapt)",
    )
    parser.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help="larger images are downscaled to this longest side first",
    )
    parser.add_argument(
        "--mode",
        choices=("find", "everything"),
        default="find",
        help="find: only the named things; everything: every object from a point grid, "
        'named from --find where the detector sees them, else "something"',
    )
    parser.add_argument(
        "--points-per-side", type=int, default=16, help="everything: point grid side (16 → 256)"
    )
    parser.add_argument(
        "--pred-iou-threshold",
        type=float,
        default=0.88,
        help="everything: keep masks whose predicted IoU is at least this",
    )
    parser.add_argument(
        "--stability-threshold",
        type=float,
        default=0.95,
        help="everything: keep masks whose stability score is at least this",
    )
    parser.add_argument(
        "--export",
        default="",
        help="extra outputs, comma-separated: coco (NAME.coco.json, RLE masks), masks "
        "(NAME.mask<i>-<label>.png), trimap (NAME.trimap<i>-<label>.png)",
    )
    parser.add_argument(
        "--trimap-band",
        type=int,
        default=DEFAULT_TRIMAP_BAND,
        metavar="PX",
        help="width of the trimap's unknown band along each contour, in pixels",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from inference.segmentation.everything import EverythingSettings

    try:
        vocabulary = parse_vocabulary(args.find)
        args.exports = parse_exports(args.export)
        if not 0 <= args.trimap_band <= 1000:
            raise ValueError(f"--trimap-band {args.trimap_band} must lie in 0..1000")
        args.everything = EverythingSettings(
            points_per_side=args.points_per_side,
            iou_threshold=args.pred_iou_threshold,
            stability_threshold=args.stability_threshold,
        )
        device = resolve_device(args.device)
        if not 64 <= args.detector_size <= 2048:
            raise ValueError(f"--detector-size {args.detector_size} must lie in 64..2048")
        if not 64 <= args.max_side <= 16384:
            raise ValueError(f"--max-side {args.max_side} must lie in 64..16384")
        lighting = LightingSettings(
            box_threshold=args.box_threshold,
            text_threshold=args.text_threshold,
            mask_threshold=args.mask_threshold,
            preprocess=not args.no_preprocess,
        )
        models = models_from_args(args, device)
        models.detector.encode_text(vocabulary)  # a too-long vocabulary fails before any image
    except (VocabularyError, DeviceError, CheckpointError, ValueError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    args.out.mkdir(parents=True, exist_ok=True)
    renderer = OverlayRenderer()
    used_names: set[str] = set()
    failed = 0
    for number, path in enumerate(args.images, start=1):
        name = _unique_stem(path, used_names)
        log.info("[%d/%d] %s", number, len(args.images), path)
        try:
            report = _segment_one(path, name, args, vocabulary, models, renderer, lighting)
        except ImageReadError as exc:
            log.error("skipped: %s", exc)
            failed += 1
            continue
        found = ", ".join(f"{o['label']} {o['score']:.2f}" for o in report["objects"]) or "nothing"
        log.info(
            "  found %s in %.0f ms -> %s",
            found,
            report["timings_ms"]["total"],
            report["outputs"]["overlay"],
        )
    if failed:
        log.error("%d of %d images failed", failed, len(args.images))
        return EXIT_SOME_FAILED
    return EXIT_OK


def _segment_one(
    path: Path,
    name: str,
    args: argparse.Namespace,
    vocabulary: tuple[str, ...],
    models: Models,
    renderer: OverlayRenderer,
    lighting: LightingSettings,
) -> dict[str, Any]:

    timer = StageTimer()
    started = time.perf_counter()
    with timer.stage("load_image"):
        image = read_image(path, max_side=args.max_side)
    frame = image.pixels
    result = segment_image(
        models, frame, vocabulary, lighting, timer, mode=args.mode, everything=args.everything
    )
    detections = result.detections
    with timer.stage("render"):
        rendered = render_still(renderer, frame, result)
    outputs = {kind: args.out / f"{name}.{kind}.png" for kind in ("overlay", "masks")}
    json_path = args.out / f"{name}.json"
    report = still_report(
        image,
        str(path),
        vocabulary,
        models,
        result,
        rendered,
        {
            "overlay": str(outputs["overlay"]),
            "masks": str(outputs["masks"]),
            "json": str(json_path),
        },
    )
    with timer.stage("write"):
        outputs["overlay"].write_bytes(png_bytes(rendered.overlay, models.random))
        outputs["masks"].write_bytes(png_bytes(rendered.label_map, models.random))
        if args.exports:
            written = write_exports(
                detections,
                args.out,
                name,
                args.exports,
                file_name=path.name,
                vocabulary=vocabulary,
                trimap_band=args.trimap_band,
            )
            log.info("  exported %s", ", ".join(p for paths in written.values() for p in paths))
    report["timings_ms"] = timer.rounded() | {
        "total": round((time.perf_counter() - started) * 1000.0, 1)
    }
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _unique_stem(path: Path, used: set[str]) -> str:
    """a/cat.jpg and b/cat.png must not overwrite each other's outputs."""
    stem, n = path.stem or "image", 1
    name = stem
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name
