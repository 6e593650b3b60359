"""Build the fast runtimes' graphs ahead of time (`visionanything weights prebuild`).

`serve` is ready on the exact eager path and builds its faster runtimes in the background:
the segmenter encoder's exported graph (OpenVINO or ONNX Runtime) and the detector's OpenVINO
image side for each input size it meets. On a first run that takes minutes of CPU (55-107 s
per detector size on a 2-core AVX2 machine, STACK.md), while phones already wait for
answers. Run beforehand, the same builds land in the graph cache and the first `serve` loads
them in seconds.

"The same builds" is the point: a graph is found again only under the same cache key (the
weights' digest, the input size, the runtime and package versions). So this module does what
`serve` does, with the models `serve` would build: the encoder through `build_encoder` with the
runtime name serve gives `use_runtime_in_background`, and the detector through `warm_up` on a
phone's landscape and portrait frames, `PHONE_FRAMES`, the sizes serve warms up, which the
detector's own preprocessing turns into its input sizes. Random weights are seeded, so a
prebuild with `--models random` serves a later `serve --models random`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from inference.detection.detector import Detector
    from inference.models import Models
    from inference.segmentation.segmenter import Segmenter

log = logging.getLogger(__name__)

PHONE_FRAMES: tuple[tuple[int, int], ...] = ((480, 640), (640, 480))
"""(H, W) of a phone camera's landscape and portrait frames: the detector sizes `serve` warms
up at start and `prebuild` builds."""

Outcome = Literal["built", "cached", "failed"]


@dataclass(frozen=True)
class GraphJob:
    """One graph to build: `name` says which, `run()` builds or loads it and returns
    (outcome, detail)."""

    name: str
    run: Callable[[], tuple[Outcome, str]]


@dataclass(frozen=True)
class GraphResult:
    """What became of one job: built now, found in the cache, or failed (then `detail` says
    why, and `serve` will run that model eagerly)."""

    name: str
    outcome: Outcome
    seconds: float
    detail: str


@dataclass(frozen=True)
class Plan:
    """The graphs to build, and a line for each model that has nothing to build here."""

    jobs: tuple[GraphJob, ...]
    notes: tuple[str, ...] = ()


def plan_graphs(
    models: Models, encoder_runtime: str, frames: Sequence[tuple[int, int]] = PHONE_FRAMES
) -> Plan:
    """The graphs `serve` would build for `models` with `--runtime encoder_runtime`, in the
    order it builds them (the encoder first, then each frame shape of the first-look detector
    and of the detector)."""
    jobs: list[GraphJob] = []
    notes: list[str] = []
    encoder = _encoder_job(models.segmenter, encoder_runtime)
    if encoder is None:
        notes.append(
            f"segmenter encoder: runtime {encoder_runtime} runs eagerly on "
            f"{models.segmenter.device}: nothing to build"
        )
    else:
        jobs.append(encoder)
    detector = models.detector
    if detector.runtime != "openvino":
        notes.append(f"detector: runtime {detector.runtime}: nothing to build")
    else:
        for each in detectors_to_warm(detector):
            jobs.extend(_detector_job(each, frame) for frame in frames)
    return Plan(tuple(jobs), tuple(notes))


def detectors_to_warm(detector: Detector) -> list[Detector]:
    """The detectors `serve` warms up, in its order: the live engine's quick first-look
    detector (`inference.live.engine.first_look_detector`: a phone's first label waits for it), then
    `detector` itself."""
    from inference.live.engine_settings import EngineSettings
    from inference.live.frame_ops import first_look_detector

    quick = first_look_detector(detector, EngineSettings())
    return [detector] if quick is None else [quick, detector]


def prebuild(
    plan: Plan,
    report: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> list[GraphResult]:
    """Run every job of `plan` in turn, reporting "[k/n] which graph …" before each and its
    outcome with the seconds it took after. A job that raises is reported as failed and the
    others go on."""
    for note in plan.notes:
        report(note)
    results: list[GraphResult] = []
    total = len(plan.jobs)
    for index, job in enumerate(plan.jobs, start=1):
        report(f"[{index}/{total}] {job.name} …")
        started = clock()
        try:
            outcome, detail = job.run()
        except Exception as exc:
            log.debug("prebuild of %s failed", job.name, exc_info=True)
            outcome, detail = "failed", f"{type(exc).__name__}: {exc}"
        seconds = clock() - started
        results.append(GraphResult(job.name, outcome, seconds, detail))
        words = {"built": "built", "cached": "already in the cache", "failed": "FAILED"}[outcome]
        report(f"[{index}/{total}] {words} in {seconds:.1f} s: {detail}")
    return results


def _encoder_job(segmenter: Segmenter, runtime: str) -> GraphJob | None:
    from inference.segmentation.encoder_runtimes import build_encoder, resolve_runtime

    if resolve_runtime(runtime, segmenter.device) == ["torch"]:
        return None

    def run() -> tuple[Outcome, str]:
        # what `use_runtime_in_background(segmenter, runtime)` builds in serve, cache included
        built = build_encoder(segmenter, runtime, progress=lambda line: log.info("%s", line))
        if built.runtime == "torch":  # "auto" fell through every exported runtime
            return "failed", f"no exported runtime could be built ({built.note})"
        outcome: Outcome = "built" if built.exported else "cached"
        note = f"; {built.note}" if built.note else ""
        return outcome, f"runtime {built.runtime}{note}"

    return GraphJob(f"segmenter encoder {segmenter.image_size} ({runtime})", run)


def detector_input_size(detector: Detector, frame: tuple[int, int]) -> tuple[int, int]:
    """(H, W) the detector's preprocessing makes of an (H, W) frame: the size its OpenVINO
    graph is converted and cached for."""
    import numpy as np

    height, width = frame
    pixels = detector._preprocess([np.zeros((height, width, 3), np.uint8)])["pixel_values"]
    return int(pixels.shape[-2]), int(pixels.shape[-1])


def _detector_job(detector: Detector, frame: tuple[int, int]) -> GraphJob:
    size = detector_input_size(detector, frame)
    shape = "portrait" if frame[0] > frame[1] else "landscape"

    def run() -> tuple[Outcome, str]:
        runner = detector.runner
        runner.background_conversion = False  # convert now, on this thread
        converted = runner.conversions
        detector.warm_up(frame)  # serve's warm-up, which converts or loads this size
        failure = runner.openvino_failure(size)
        if failure is not None:
            return "failed", failure
        outcome: Outcome = "built" if runner.conversions > converted else "cached"
        return outcome, str(runner.cache_path(size))

    frames = f"{shape} {frame[1]}x{frame[0]} frames"
    return GraphJob(f"detector OpenVINO image side, {frames} (input {size[1]}x{size[0]})", run)
