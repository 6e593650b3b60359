"""The detector's paths side by side for `visionanything bench`: transformers' forward (before),
the cached-text path and OpenVINO (after), each timed at each input size, with the noise floor
their outputs differ by."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from inference.detection.detector import Detector
from inference.detection.runtime import NOISE_FLOOR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PathTiming:
    """One detection path at one input size, as `compare_detector_paths` measured it.

    path:        "before" (transformers' forward, text recomputed: runtime "torch"), the
                 runtime name of an "after" path ("fast", "openvino"), or "noise floor"
                 (untimed: "before" on pixels with 1e-5 noise, see `compare_detector_paths`)
    input_size:  (H, W) the model saw (frames are 480×640 unless given)
    median_ms:   median wall time of `Detector.detect` on one frame (pre- and post-processing
                 included), None when the path failed
    times_ms:    every timed call; warmup_ms: the first, untimed call (conversion, caches)
    logits_max_abs_diff / boxes_max_abs_diff: against "before", same query index
    matched_max_abs_diff: against "before" with each query matched to its nearest reference
                 query (max-norm over logits and boxes): insensitive to near-tied queries that
                 swap places in the top-k selection
    queries_matched: share of queries with a reference query within 1e-3 (1.0 = the same set;
                 float rounding can change which encoder token is 900th of ~4000 when scores
                 lie 1e-4 apart, and then that query and, through self-attention, others differ)
    same_labels: the detections (thresholds 0, NMS, top `max_detections`) carry the same labels
    error:       why the path failed or fell back (then timings are None), else None
    """

    shortest_edge: int
    path: str
    input_size: tuple[int, int] | None = None
    median_ms: float | None = None
    times_ms: tuple[float, ...] = ()
    warmup_ms: float | None = None
    logits_max_abs_diff: float | None = None
    boxes_max_abs_diff: float | None = None
    matched_max_abs_diff: float | None = None
    queries_matched: float | None = None
    same_labels: bool | None = None
    error: str | None = None


def compare_detector_paths(
    detector: Detector,
    sizes: Sequence[int] = (256, 384, 512),
    repeats: int = 5,
    progress: Callable[[str], None] | None = None,
    *,
    runtimes: Sequence[str] = ("fast", "openvino"),
    frame: npt.NDArray[np.uint8] | None = None,
    vocabulary: Sequence[str] = ("cat", "cup", "teddy bear", "astronaut"),
    noise_floor: bool = True,
) -> list[PathTiming]:
    """Time the reference path ("before") and the faster runtimes ("after") per shortest edge.

    For each size: a warm-up call per path (OpenVINO converts or loads its cached model then),
    then `repeats` rounds timing every path once per round (interleaved, so machine drift hits
    all paths alike), then the outputs compared with "before". A path that fails is reported
    in its row's `error`, never raised. Returns one row per (size, path), "before" first, and
    with `noise_floor` a last untimed row per size, path "noise floor": "before" against
    itself with 1e-5 noise on the pixels. Random weights make the model chaotic on some inputs
    (1e-5 of input noise can move logits by 10+): runtime differences no larger than that
    floor are rounding, not a wrong runtime.
    """
    report = progress or (lambda line: log.info("%s", line))
    picture = frame if frame is not None else _test_frame()
    height, width = int(picture.shape[0]), int(picture.shape[1])
    rows: list[PathTiming] = []
    for edge in sizes:
        base = detector.with_settings(
            shortest_edge=int(edge),
            longest_edge=max(detector.settings.longest_edge, 2 * int(edge)),
        )
        paths = {"before": base.with_runtime("torch")}
        paths.update({name: base.with_runtime(name) for name in runtimes})
        state: dict[str, dict[str, Any]] = {name: {"times": []} for name in paths}
        input_size: tuple[int, int] | None = None
        for name, path in paths.items():
            started = time.perf_counter()
            try:
                pixels = path._preprocess([picture])
                shape = pixels["pixel_values"].shape
                input_size = (int(shape[-2]), int(shape[-1]))
                outputs = path.raw_outputs([picture], vocabulary)
                failure = path.runner.openvino_failure(input_size) if name == "openvino" else None
                if failure is not None:
                    raise RuntimeError(f"OpenVINO fell back to torch: {failure}")
                found = path.detect([picture], vocabulary, box_threshold=0.0, text_threshold=0.0)
                state[name].update(outputs=outputs, labels=found[0].labels)
            except Exception as exc:
                state[name]["error"] = f"{type(exc).__name__}: {exc}".strip()
                report(f"detector {edge}: {name} failed: {state[name]['error']}")
            state[name]["warmup"] = 1000 * (time.perf_counter() - started)
        for _ in range(max(1, repeats)):
            for name, path in paths.items():
                if "error" in state[name]:
                    continue
                try:
                    started = time.perf_counter()
                    path.detect([picture], vocabulary)
                    state[name]["times"].append(1000 * (time.perf_counter() - started))
                except Exception as exc:
                    state[name]["error"] = f"{type(exc).__name__}: {exc}".strip()
        reference = state["before"].get("outputs")
        for name in paths:
            entry = state[name]
            row = PathTiming(
                shortest_edge=int(edge),
                path=name,
                input_size=input_size,
                warmup_ms=entry.get("warmup"),
                error=entry.get("error"),
            )
            if row.error is None:
                times = tuple(float(t) for t in entry["times"])
                row = replace(row, median_ms=float(np.median(times)), times_ms=times)
                if reference is not None and name != "before":
                    logits, boxes, matched, share = _differences(reference, entry["outputs"])
                    row = replace(
                        row,
                        logits_max_abs_diff=logits,
                        boxes_max_abs_diff=boxes,
                        matched_max_abs_diff=matched,
                        queries_matched=share,
                        same_labels=entry["labels"] == state["before"].get("labels"),
                    )
            rows.append(row)
            report(_describe_row(row, (height, width)))
        if reference is not None and noise_floor:
            rows.append(_noise_floor(paths["before"], picture, vocabulary, reference, edge))
            report(_describe_row(rows[-1], (height, width)))
    return rows


def _noise_floor(
    before: Detector,
    picture: npt.NDArray[np.uint8],
    vocabulary: Sequence[str],
    reference: tuple[torch.Tensor, torch.Tensor],
    edge: int,
) -> PathTiming:
    """The reference path against itself with 1e-5 noise on its normalised pixels: how far
    outputs move from rounding-sized input changes alone (untimed)."""
    name = NOISE_FLOOR
    try:
        pixels = before._preprocess([picture])
        values = pixels["pixel_values"]
        generator = torch.Generator().manual_seed(0)
        noisy = values + 1e-5 * torch.randn(values.shape, generator=generator)
        text = before.encode_text(vocabulary)
        outputs = before._forward(noisy, pixels["pixel_mask"], text)
        logits, boxes, matched, share = _differences(reference, outputs)
    except Exception as exc:
        return PathTiming(shortest_edge=int(edge), path=name, error=f"{type(exc).__name__}: {exc}")
    return PathTiming(
        shortest_edge=int(edge),
        path=name,
        input_size=(int(values.shape[-2]), int(values.shape[-1])),
        logits_max_abs_diff=logits,
        boxes_max_abs_diff=boxes,
        matched_max_abs_diff=matched,
        queries_matched=share,
    )


def _differences(
    reference: tuple[torch.Tensor, torch.Tensor], other: tuple[torch.Tensor, torch.Tensor]
) -> tuple[float, float, float, float]:
    """Max |Δ| of logits, of boxes (same query index), query-matched, and the share of queries
    matched within 1e-3 (see `PathTiming`)."""
    logits = float((other[0] - reference[0]).abs().max())
    boxes = float((other[1] - reference[1]).abs().max())
    want = torch.cat([reference[0], reference[1]], -1).flatten(0, 1)  # (B·Q, T + 4)
    have = torch.cat([other[0], other[1]], -1).flatten(0, 1)
    finite = torch.isfinite(want).all(0) & torch.isfinite(have).all(0)
    matched = torch.cdist(have[:, finite], want[:, finite], p=float("inf")).min(dim=1).values
    return logits, boxes, float(matched.max()), float((matched < 1e-3).float().mean())


def _describe_row(row: PathTiming, frame_size: tuple[int, int]) -> str:
    where = f"detector {frame_size[0]}x{frame_size[1]} -> {row.input_size}: {row.path}"
    if row.error is not None:
        return f"{where} FAILED ({row.error})"
    if row.median_ms is None:
        text = f"{where} (untimed)"
    else:
        text = f"{where} median {row.median_ms:.0f} ms (warm-up {row.warmup_ms:.0f} ms)"
    if row.logits_max_abs_diff is not None:
        text += (
            f", max |Δ| logits {row.logits_max_abs_diff:.2e} boxes {row.boxes_max_abs_diff:.2e}"
            f" (query-matched {row.matched_max_abs_diff:.2e}, {row.queries_matched:.1%} of"
            f" queries within 1e-3)"
        )
        if row.same_labels is not None:
            text += f", same labels {row.same_labels}"
    return text


def _test_frame() -> npt.NDArray[np.uint8]:
    """scikit-image's cat photo (`chelsea`) as a 480×640 RGB camera frame.

    A real photo: on synthetic noise the random-weight model is chaotic (a 1e-7 rounding
    difference can change which encoder token is 900th of ~4000 and, through the decoder's
    self-attention, many outputs), which hides the runtimes' real agreement.
    """
    from skimage import data

    photo = np.asarray(data.chelsea(), dtype=np.uint8)  # (300, 451, 3)
    frame = torch.from_numpy(photo).permute(2, 0, 1)[None].float()
    resized = torch.nn.functional.interpolate(
        frame, size=(480, 640), mode="bilinear", align_corners=False
    )
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
