"""The segmenter encoder's runtimes side by side for `visionanything bench`: build time, speed
and how far each one's masks agree with eager torch."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from inference.segmentation.encoder_build import Progress, first_line
from inference.segmentation.encoder_exports import check_photos
from inference.segmentation.encoder_runtimes import build_encoder
from inference.segmentation.segmenter import EncoderRuntime, Segmenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderRuntimeResult:
    """One encoder runtime as `compare_encoder_runtimes` measured it (batch of one image).

    runtime:   the name asked for; resolved: the runtime that ran ("auto" and a rejected
               "openvino-bf16" resolve to another), None when the build failed
    median_ms, min_ms: wall time of one (1, 3, S, S) call over the timed repeats
    max_abs_error_vs_eager: max |embedding − eager embedding| on the test photo
    build_s:   seconds to build (export or cache load, compile, checks)
    exported:  a graph was exported in this build (not found in the cache); None for torch
    note:      why `resolved` differs from `runtime`, if it does
    error:     why the runtime failed (then the timings are None), else None
    """

    runtime: str
    resolved: str | None = None
    median_ms: float | None = None
    min_ms: float | None = None
    max_abs_error_vs_eager: float | None = None
    build_s: float | None = None
    exported: bool | None = None
    note: str | None = None
    error: str | None = None


def compare_encoder_runtimes(
    segmenter: Segmenter,
    runtimes: Sequence[str] = ("torch", "openvino", "onnxruntime", "openvino-bf16"),
    repeats: int = 5,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
    frame: npt.NDArray[np.uint8] | None = None,
) -> list[EncoderRuntimeResult]:
    """Build each runtime for `segmenter`'s encoder and time it on one photo.

    After the builds (each followed by one untimed warm-up call), `repeats` rounds call every
    built runtime once per round (interleaved, so machine drift hits all alike). The eager
    module is the reference for the error. A runtime that fails to build or run is reported in
    its row's `error`, never raised. Returns one row per entry of `runtimes`, in order.
    """
    report = progress or (lambda line: log.info("%s", line))
    photo = frame if frame is not None else check_photos()[0]
    pixels = segmenter.prepare([photo])  # (1, 3, S, S)
    with torch.inference_mode():
        reference = segmenter.model.image_encoder(pixels).float().cpu()
    size = segmenter.image_size
    rows: dict[int, EncoderRuntimeResult] = {}
    encoders: dict[int, EncoderRuntime] = {}
    times: dict[int, list[float]] = {}
    for index, name in enumerate(runtimes):
        try:
            build = build_encoder(segmenter, name, cache_dir=cache_dir, progress=report)
            with torch.inference_mode():
                out = build.encoder(pixels).float().cpu()
            error = float((out - reference).abs().max())
        except Exception as exc:
            rows[index] = EncoderRuntimeResult(
                runtime=name, error=f"{type(exc).__name__}: {first_line(exc)}"
            )
            report(f"encoder {size}: {name} FAILED ({rows[index].error})")
            continue
        rows[index] = EncoderRuntimeResult(
            runtime=name,
            resolved=build.runtime,
            max_abs_error_vs_eager=error,
            build_s=build.build_s,
            exported=build.exported,
            note=build.note,
        )
        encoders[index] = build.encoder
        times[index] = []
    for _ in range(max(1, repeats)):
        for index, encoder in list(encoders.items()):
            try:
                started = time.perf_counter()
                with torch.inference_mode():
                    encoder(pixels)
                times[index].append(1000 * (time.perf_counter() - started))
            except Exception as exc:
                rows[index] = EncoderRuntimeResult(
                    runtime=rows[index].runtime,
                    resolved=rows[index].resolved,
                    error=f"{type(exc).__name__}: {first_line(exc)}",
                )
                del encoders[index]
    results = []
    for index in range(len(runtimes)):
        row = rows[index]
        if row.error is None:
            row = replace(row, median_ms=statistics.median(times[index]), min_ms=min(times[index]))
            report(
                f"encoder {size}: {row.runtime} ({row.resolved}) median {row.median_ms:.0f} ms, "
                f"min {row.min_ms:.0f} ms, max |Δ| vs eager {row.max_abs_error_vs_eager:.1e}, "
                f"build {row.build_s:.1f} s" + (f" [{row.note}]" if row.note else "")
            )
        results.append(row)
    return results
