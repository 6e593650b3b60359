"""`visionanything clip OUT`: write the deterministic test clip (real photos, camera motion).

    visionanything clip clip.y4m                    # for Chromium's fake camera
    visionanything clip clip.mp4 --seconds 30 --seed 3

The format follows OUT's extension: .y4m (YUV4MPEG2 I420), .mp4 (H.264) or .webm (VP8).
Exit status: 0 written, 2 bad arguments or an unwritable file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from stream.loadtest.clip import clip_frame_count, format_of, iter_clip_frames, plan_scenes
from stream.loadtest.clip_files import write_clip
from visionanything.commands.options import frame_size

log = logging.getLogger("visionanything.clip")

EXIT_OK, EXIT_USAGE = 0, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "clip",
        help="write a recorded-camera test clip (.y4m, .mp4, .webm)",
        description="Write a deterministic clip made from real photos (a cat, a cup, an "
        "astronaut, a rocket, a motorcycle) with pans, zooms, hand shake, a dim stretch and "
        "cuts: input for Chromium's fake camera and for load tests.",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="output file: .y4m, .mp4 or .webm")
    parser.add_argument("--seconds", type=float, default=20.0, help="length (default 20)")
    parser.add_argument("--fps", type=int, default=15, help="frames per second (default 15)")
    parser.add_argument(
        "--size", type=frame_size, default=(640, 480), help="WIDTHxHEIGHT, even (default 640x480)"
    )
    parser.add_argument("--seed", type=int, default=0, help="hand shake and noise (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    out: Path = args.out
    try:
        format_of(out)
        frames = clip_frame_count(args.seconds, args.fps)
        scenes = plan_scenes(args.seconds, args.fps)
        iter_clip_frames(args.seconds, args.fps, args.size, args.seed)  # checks the seed
    except ValueError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    if not out.parent.is_dir():
        log.error("cannot write %s: the folder %s does not exist", out, out.parent)
        return EXIT_USAGE
    width, height = args.size
    log.info(
        "clip: %d frames (%.1f s at %d fps), %dx%d, seed %d; scenes %s",
        frames,
        frames / args.fps,
        args.fps,
        width,
        height,
        args.seed,
        ", ".join(f"{s.name}{' (dim)' if s.dim else ''}" for s in scenes),
    )
    try:
        info = write_clip(
            out, args.seconds, args.fps, args.size, args.seed, progress=not args.no_progress
        )
    except OSError as exc:
        log.error("cannot write %s: %s", out, exc)
        return EXIT_USAGE
    log.info(
        "wrote %s: %s, %d frames, %.1f MB", info.path, info.format, info.frames, info.bytes / 1e6
    )
    return EXIT_OK
