"""`visionanything bench`: model stage timings, FLOPs and the live-vs-naive pipeline on a clip.

    visionanything bench                                   # random models, 512, this CPU
    visionanything bench --device cuda --size 1024 --json bench.json --markdown bench.md
    visionanything bench --detector mm-grounding-dino-tiny # stages and pipeline on MM-GDINO

Both detectors (`--detector` choices) are also timed side by side at --detector-sizes
(`--compare-detectors`, default both; '' skips).

Prints a Markdown report on stdout and one progress line per step on stderr. The defaults
finish in a few minutes on a 2-core CPU. Exit status: 0 done, 2 bad arguments, missing
checkpoints or an unavailable device.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.choices import DETECTOR_MODELS, MODEL_SOURCES
from inference.core.device import DEVICE_CHOICES, DeviceError, resolve_device
from inference.models import Models, load_models, resolve_detector_runtime
from inference.weights.checkpoints import CheckpointError, Manifest
from stream.loadtest.clip import iter_clip_frames, plan_scenes
from visionanything.commands.options import add_detector_option, add_runtime_option, frame_size

if TYPE_CHECKING:  # torch and the models load only when the command runs
    import torch

    from inference.detection.detector import Detector
    from inference.models import Models

log = logging.getLogger("visionanything.bench")

EXIT_OK, EXIT_USAGE = 0, 2


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,4,8, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _detector_list(text: str) -> tuple[str, ...]:
    names = _name_list(text)
    unknown = [name for name in names if name not in DETECTOR_MODELS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown detector(s) {', '.join(unknown)}; choose from {', '.join(DETECTOR_MODELS)}"
        )
    return tuple(dict.fromkeys(names))


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="time the models and the live pipeline on this machine",
        description="Measure the segmenter's encoder and decoder, the detector at several "
        "input sizes (ms, FLOPs, share of this machine's matmul peak), then play the test "
        "clip in real time through the scheduled live pipeline and the naive Grounded-SAM "
        "loop and compare their frame rates.",
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument(
        "--size", type=int, choices=(512, 1024), default=512, help="segmenter encoder size"
    )
    add_detector_option(parser)
    parser.add_argument(
        "--compare-detectors",
        type=_detector_list,
        default=DETECTOR_MODELS,
        metavar="NAME,NAME",
        help="detectors timed side by side at --detector-sizes on --detector-runtime ('' skips; "
        f"default {','.join(DETECTOR_MODELS)}). With --models real, one whose checkpoint is not "
        "fetched is reported, not fatal",
    )
    parser.add_argument(
        "--models",
        choices=MODEL_SOURCES,
        default="random",
        help="random: the real architectures with random weights (default); real: checkpoints",
    )
    parser.add_argument(
        "--detector-sizes",
        type=_int_list,
        default=(256, 384, 512),
        metavar="N,N",
        help="detector input shortest edges to time (default 256,384,512)",
    )
    parser.add_argument(
        "--boxes",
        type=_int_list,
        default=(1, 4, 8),
        metavar="N,N",
        help="box prompts per decoder call to time (default 1,4,8)",
    )
    parser.add_argument(
        "--pipeline-detector-size",
        type=int,
        default=384,
        help="detector shortest edge in both pipelines (default 384)",
    )
    parser.add_argument(
        "--clip-seconds",
        type=float,
        default=8.0,
        help="seconds of clip played through each pipeline; 0 skips them (default 8)",
    )
    parser.add_argument("--fps", type=int, default=15, help="clip frame rate (default 15)")
    parser.add_argument(
        "--encoder-runtimes",
        type=_name_list,
        default=("torch", "openvino", "onnxruntime", "openvino-bf16"),
        metavar="NAME,NAME",
        help="encoder runtimes compared against eager torch ('' skips; default "
        "torch,openvino,onnxruntime,openvino-bf16)",
    )
    parser.add_argument(
        "--detector-runtimes",
        type=_name_list,
        default=("fast", "openvino"),
        metavar="NAME,NAME",
        help="detector runtimes compared with transformers' forward at --detector-sizes "
        "('' skips; default fast,openvino)",
    )
    parser.add_argument(
        "--following-lags",
        type=_int_list,
        default=(3, 8),
        metavar="N,N",
        help="frames between a mask's frame and the frame it is drawn on, for the "
        "mask-following check (default 3,8)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per stage (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="clip and random weights seed")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write everything as JSON")
    parser.add_argument("--markdown", type=Path, metavar="OUT.md", help="write the report")
    parser.add_argument("--manifest", type=Path, default=None, help="checkpoint manifest (real)")
    add_runtime_option(parser)
    # For tests: a tiny random detector, a small peak matmul and a small clip.
    parser.add_argument("--tiny-detector", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peak-size", type=int, default=2048, help=argparse.SUPPRESS)
    parser.add_argument("--clip-size", type=frame_size, default=(640, 480), help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from inference.bench.benchmark import run_benchmark
    from inference.bench.report import print_progress, to_markdown
    from inference.bench.results import BenchSettings
    from inference.detection.detector import DetectorSettings

    try:
        device = resolve_device(args.device)
        settings = BenchSettings(
            detector_sizes=args.detector_sizes,
            boxes=args.boxes,
            repeats=args.repeats,
            pipeline_detector_size=args.pipeline_detector_size,
            peak_size=args.peak_size,
            encoder_runtimes=args.encoder_runtimes,
            detector_runtimes=args.detector_runtimes,
            following_lags=args.following_lags,
        )
        if not 0 <= args.clip_seconds <= 600:
            raise ValueError(f"--clip-seconds must lie in 0..600, got {args.clip_seconds}")
        seconds = args.clip_seconds if args.clip_seconds > 0 else 1 / args.fps
        clip_frames = iter_clip_frames(seconds, args.fps, args.clip_size, args.seed)
        if args.tiny_detector:
            from inference.detection.random_weights import build_random_detector
            from inference.segmentation.encoder_runtimes import use_runtime
            from inference.segmentation.segmenter import build_random_segmenter

            models = Models(
                build_random_detector(
                    device, DetectorSettings(model=args.detector), seed=args.seed, tiny=True
                ),
                build_random_segmenter(device, args.size, seed=args.seed),
            )
            use_runtime(models.segmenter, args.runtime)
            detector_runtime = resolve_detector_runtime(args.detector_runtime, device)
            models = Models(models.detector.with_runtime(detector_runtime), models.segmenter)
        else:
            manifest = Manifest.load(args.manifest) if args.models == "real" else None
            models = load_models(
                args.models,
                device,
                segmenter_size=args.size,
                manifest=manifest,
                seed=args.seed,
                runtime=args.runtime,
                detector_runtime=args.detector_runtime,
                detector_settings=DetectorSettings(model=args.detector),
            )
    except (DeviceError, CheckpointError, ValueError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    print_progress(
        f"bench on {device} ({torch.get_num_threads()} threads), segmenter {args.size} "
        f"on {models.segmenter.runtime}, "
        f"{'tiny random' if args.tiny_detector else args.models} models"
    )
    clip: dict[str, Any] = {
        "seconds": seconds,
        "fps": args.fps,
        "size": list(args.clip_size),
        "seed": args.seed,
        "scenes": [s.name for s in plan_scenes(seconds, args.fps)],
    }
    clip_list = list(clip_frames)
    frames = [f.rgb for f in clip_list]
    # the first continuous shot (up to the first cut) carries its true camera views
    shot_frames = list(
        itertools.takewhile(
            lambda f: f.scene == clip_list[0].scene and f.view is not None, clip_list
        )
    )
    shot = None
    if args.following_lags and len(shot_frames) > 2 * min(args.following_lags):
        shot_views = [f.view for f in shot_frames if f.view is not None]
        shot = ([f.rgb for f in shot_frames], shot_views)
    report = run_benchmark(
        models,
        settings,
        frames if args.clip_seconds > 0 else [],
        float(args.fps),
        frame=frames[0],
        progress=print_progress,
        clip=clip,
        shot=shot,
        detector_choices=_detector_choices(args, models, device),
    )
    markdown = to_markdown(report)
    sys.stdout.write(markdown)
    sys.stdout.flush()
    if args.markdown is not None:
        args.markdown.write_text(markdown)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return EXIT_OK


def _detector_choices(
    args: argparse.Namespace, models: Models, device: torch.device
) -> dict[str, Callable[[], Detector]]:
    """name → builder for each --compare-detectors choice: the detector already built for the
    stages is reused; another is built like it (tiny or full random weights, or its checkpoint
    from the manifest) on the same runtime, only when the comparison runs."""
    from inference.detection.detector import DetectorSettings
    from inference.detection.loading import load_detector
    from inference.detection.random_weights import build_random_detector

    main = models.detector
    runtime = main.runtime

    def builder(name: str) -> Callable[[], Detector]:
        settings = DetectorSettings(model=name)

        def build() -> Detector:
            if args.tiny_detector or args.models == "random":
                built = build_random_detector(
                    device, settings, seed=args.seed, tiny=args.tiny_detector
                )
            else:
                built = load_detector(Manifest.load(args.manifest), device, settings)
            return built.with_runtime(runtime)

        return build

    def reuse() -> Detector:
        return main

    return {
        name: reuse if name == main.kind.name else builder(name) for name in args.compare_detectors
    }
