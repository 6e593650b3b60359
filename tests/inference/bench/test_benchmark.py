"""The benchmark's measuring functions on tiny settings: FLOP counts are right and consistent,
timings are positive, the pipeline comparison returns both rates, and `visionanything bench`
writes valid JSON and Markdown. Timings are reported, never asserted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.bench.benchmark import run_benchmark
from inference.bench.pipelines import PipelineClock, compare_pipelines
from inference.bench.report import to_markdown
from inference.bench.results import BenchSettings, PeakResult
from inference.bench.stages import (
    bench_boxes,
    bench_decoder,
    bench_detector,
    bench_encoder,
    compare_detectors,
    count_flops,
    measure_peak,
    sized_detector,
)
from inference.detection.detector import Detector, DetectorSettings
from inference.detection.random_weights import build_random_detector
from inference.lighting.thresholds import LightingSettings
from inference.models import Models
from inference.still.grounded_segmentation import segment_image
from inference.weights.checkpoints import CheckpointError
from stream.loadtest.clip import iter_clip_frames
from visionanything.cli import main

CPU = torch.device("cpu")
ENCODER_512_GFLOP = 20.6  # STACK.md


@pytest.fixture(scope="module")
def peak() -> PeakResult:
    return measure_peak(CPU, size=256, repeats=2)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f.rgb for f in iter_clip_frames(2.0, 15, (320, 240), seed=0)]


def test_peak_and_flop_counting(peak: PeakResult) -> None:
    assert peak.gflops_per_s > 0 and peak.best_ms > 0 and peak.size == 256
    a = torch.ones(64, 32)
    assert count_flops(lambda: a @ torch.ones(32, 16)) == 2 * 64 * 32 * 16


def test_encoder_flops_match_the_published_count(models: Models, peak: PeakResult) -> None:
    result = bench_encoder(models.segmenter, repeats=1, peak=peak)
    assert result.input_shape == [1, 3, 512, 512]
    assert result.flops / 1e9 == pytest.approx(ENCODER_512_GFLOP, rel=0.15)
    assert len(result.times_ms) == 1 and result.median_ms > 0 and result.min_ms > 0
    assert result.gflops_per_s > 0 and result.peak_fraction > 0


def test_decoder_flops_grow_with_the_boxes(
    models: Models, peak: PeakResult, frames: list[np.ndarray]
) -> None:
    (embedding,) = models.segmenter.embed([frames[0]])
    one, four = (bench_decoder(models.segmenter, embedding, n, 1, peak) for n in (1, 4))
    assert one.label == "decoder 1 box" and four.label == "decoder 4 boxes"
    assert 0 < one.flops < four.flops
    assert four.flops == pytest.approx(4 * one.flops, rel=0.25)  # linear in boxes
    boxes = bench_boxes(8, (240, 320))
    assert boxes.shape == (8, 4) and (boxes[:, 2:] > boxes[:, :2]).all()
    assert np.array_equal(boxes, bench_boxes(8, (240, 320)))


def test_detector_flops_grow_with_the_input(
    models: Models, peak: PeakResult, frames: list[np.ndarray]
) -> None:
    small, large = (
        bench_detector(models.detector, frames[0], size, ["cat", "cup"], 1, peak)
        for size in (96, 192)
    )
    assert small.input_shape[2] == 96 and large.input_shape[2] == 192
    assert 0 < small.flops < large.flops
    assert small.median_ms > 0


def test_detector_choices_are_timed_side_by_side(models: Models, frames: list[np.ndarray]) -> None:
    """Both detectors, each timed at each size; a builder that fails gives rows with its error
    (as a missing checkpoint would), never an exception, and the others are still timed."""
    mm = build_random_detector(CPU, DetectorSettings(model="mm-grounding-dino-tiny"), tiny=True)
    built: list[str] = []

    def builder(detector: Detector) -> Callable[[], Detector]:
        def build() -> Detector:
            built.append(detector.kind.name)
            return detector.with_runtime("fast")

        return build

    def missing() -> Detector:
        raise CheckpointError("weights/x is missing")

    choices = {
        "grounding-dino-tiny": builder(models.detector),
        "mm-grounding-dino-tiny": builder(mm),
        "not-fetched": missing,
    }
    lines: list[str] = []
    rows = compare_detectors(choices, frames[0], (96, 128), ["cat", "cup"], 2, lines.append)
    assert built == ["grounding-dino-tiny", "mm-grounding-dino-tiny"], "each built once"
    assert [(r.shortest_edge, r.detector) for r in rows] == [
        (edge, name) for edge in (96, 128) for name in choices
    ]
    for row in rows[:2] + rows[3:5]:
        assert row.error is None and row.runtime == "fast" and row.weights == "random"
        assert len(row.times_ms) == 2 and row.median_ms is not None and row.median_ms > 0
        assert row.warmup_ms is not None and row.parameters is not None and row.parameters > 0
        assert row.input_size is not None and row.input_size[0] == row.shortest_edge
    assert rows[2].error == "CheckpointError: weights/x is missing" and rows[2].median_ms is None
    assert any("not timed" in line for line in lines)


def test_pipeline_comparison_returns_both_rates(models: Models, frames: list[np.ndarray]) -> None:
    settings = BenchSettings(pipeline_detector_size=128, max_objects=3, box_threshold=0.0)
    lines: list[str] = []
    # 30 frames at 7.5 fps: a 4 s window on a clock slowed so that it holds at least three
    # naive frames however slow or busy this machine is (one naive frame took over 2 s in a
    # CI run beside other jobs), so each pipeline finishes frames inside it
    clock = _slowed_clock(_naive_frame_s(models, frames[0], settings), window_s=4.0, frames=3)
    result = compare_pipelines(models, frames, 7.5, settings, lines.append, clock)
    for pipeline in (result.scheduled, result.naive):
        assert pipeline.seconds == pytest.approx(4.0)
        assert pipeline.frames_offered == 30
        assert pipeline.results >= 1, pipeline
        assert pipeline.results_per_s == pytest.approx(pipeline.results / 4.0, abs=1e-3)
        assert pipeline.keyframes >= 1 and pipeline.detect_ms_mean is not None
        assert pipeline.objects_mean <= 3
        assert 0 <= pipeline.frames_skipped < 30
    assert result.naive.segmented >= 1  # a saturated random detector always finds something
    assert result.ratio is not None and result.ratio > 0
    assert result.overlay_ratio is not None and result.overlay_ratio > 0
    assert result.frame_size == (240, 320)
    assert [line.split(" pipeline")[0] for line in lines] == ["scheduled", "naive"]


def _naive_frame_s(models: Models, frame: np.ndarray, settings: BenchSettings) -> float:
    """Seconds one naive Grounded-SAM frame takes on this machine now (after a warm-up)."""
    detector = sized_detector(models.detector, settings.pipeline_detector_size)
    sized = Models(detector, models.segmenter)
    lighting = LightingSettings(box_threshold=settings.box_threshold)
    segment_image(sized, frame, settings.vocabulary, lighting)
    started = time.perf_counter()
    segment_image(sized, frame, settings.vocabulary, lighting)
    return time.perf_counter() - started


def _slowed_clock(frame_s: float, window_s: float, frames: int) -> PipelineClock:
    """A clock running `factor` times slower than the wall, so that `window_s` of it holds
    `frames` frames of `frame_s` wall seconds (never faster than the wall)."""
    factor = max(1.0, frames * frame_s / window_s)
    print(f"naive frame {frame_s:.2f} s: the clip plays {factor:.1f}x slower")
    origin = time.perf_counter()
    return PipelineClock(
        now=lambda: (time.perf_counter() - origin) / factor,
        sleep=lambda seconds: time.sleep(seconds * factor),
    )


def test_report_markdown_and_progress(
    models: Models, frames: list[np.ndarray], peak: PeakResult
) -> None:
    settings = BenchSettings(
        detector_sizes=(96,),
        boxes=(1,),
        repeats=1,
        peak_size=128,
        encoder_runtimes=(),
        detector_runtimes=(),
    )
    lines: list[str] = []
    report = run_benchmark(models, settings, [], 15.0, frame=frames[0], progress=lines.append)
    assert [line.split("]")[0] for line in lines] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    labels = [s.label for s in report.stages]
    assert labels == ["encoder 512 (torch)", "decoder 1 box", "detector 96 (torch)"]
    assert report.pipeline is None and report.random_weights
    text = to_markdown(report)
    assert "| encoder 512 (torch) |" in text and "Pipeline" not in text
    with pytest.raises(ValueError):
        run_benchmark(models, settings, [], 15.0)
    with pytest.raises(ValueError):
        BenchSettings(boxes=(0,))


def test_bench_command_writes_json_and_markdown(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    status = main(
        [
            "bench",
            "--device=cpu",
            "--tiny-detector",
            "--size=512",
            "--detector-sizes=96",  # one OpenVINO conversion: each costs seconds
            "--boxes=1,2",
            "--pipeline-detector-size=96",
            "--clip-seconds=1",
            "--clip-size=320x240",
            "--repeats=1",
            "--peak-size=256",
            "--encoder-runtimes=torch,openvino",
            "--detector-runtimes=fast,openvino",
            "--following-lags=2",
            f"--json={out_json}",
            f"--markdown={out_md}",
        ]
    )
    assert status == 0
    report = json.loads(out_json.read_text())
    assert report["machine"]["device"] == "cpu" and report["machine"]["torch"] == torch.__version__
    assert report["machine"]["cpu"]
    assert report["peak"]["gflops_per_s"] > 0
    labels = [s["label"] for s in report["stages"]]
    runtime = report["models"]["segmenter"]["runtime"]
    assert labels == [
        f"encoder 512 ({runtime})",
        "decoder 1 box",
        "decoder 2 boxes",
        "detector 96 (openvino)",
    ]
    assert all(s["flops"] > 0 for s in report["stages"]), "exported runtimes are counted eagerly"
    by_runtime = {r["runtime"]: r for r in report["encoder_runtimes"]}
    assert by_runtime["torch"]["max_abs_error_vs_eager"] == 0
    assert by_runtime["openvino"]["max_abs_error_vs_eager"] < 1e-3
    paths = {(d["shortest_edge"], d["path"]) for d in report["detector_paths"]}
    assert {(96, "before"), (96, "fast"), (96, "openvino")} <= paths
    following = {row["masks"]: row for row in report["mask_following"]}
    anchored = following["picture-anchored"]
    assert anchored["lag_frames"] == 2 and anchored["objects"] > 0
    assert anchored["iou_with"] > anchored["iou_without"], "following must help on the clip"
    assert "segmenter" in following
    pipeline = report["pipeline"]
    assert pipeline["frames"] == 15  # 1 s of clip: how many results fit in it depends on the CPU
    scheduled = pipeline["scheduled"]
    assert scheduled["results_per_s"] == pytest.approx(scheduled["results"] / 1.0, abs=1e-3)
    assert "naive" in pipeline and "ratio" in pipeline
    assert report["clip"]["scenes"] == ["chelsea", "coffee"]
    markdown = out_md.read_text()
    assert markdown.startswith("## visionanything bench")
    assert "| detector 96 (openvino) |" in markdown and "| naive Grounded-SAM |" in markdown
    assert "scheduled, torch runtimes (before)" in markdown
    assert "Masks that follow the picture" in markdown and "encoder by runtime" in markdown
    # both detector choices, side by side on the detector runtime (default --compare-detectors)
    choices = {(d["detector"], d["shortest_edge"]): d for d in report["detectors"]}
    assert set(choices) == {("grounding-dino-tiny", 96), ("mm-grounding-dino-tiny", 96)}
    for row in choices.values():
        assert row["error"] is None and row["runtime"] == "openvino", row
        assert row["median_ms"] > 0 and row["input_size"] == [96, 128]
    assert "Detectors side by side" in markdown and "| mm-grounding-dino-tiny | 96 |" in markdown
    assert main(["bench", "--device=cpu", "--boxes=0", "--tiny-detector"]) == 2


def test_bench_runs_on_the_chosen_detector(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    status = main(
        [
            "bench",
            "--device=cpu",
            "--tiny-detector",
            "--detector=mm-grounding-dino-tiny",
            "--compare-detectors=",  # skipped
            "--detector-sizes=96",
            "--boxes=1",
            "--pipeline-detector-size=96",
            "--clip-seconds=0",
            "--clip-size=320x240",
            "--repeats=1",
            "--peak-size=128",
            "--encoder-runtimes=",
            "--detector-runtimes=",
            "--runtime=torch",
            "--detector-runtime=fast",
            f"--json={out_json}",
        ]
    )
    assert status == 0
    report = json.loads(out_json.read_text())
    detector = report["models"]["detector"]
    assert detector["detector"] == "mm-grounding-dino-tiny"
    assert detector["architecture"] == "MMGroundingDinoForObjectDetection"
    assert [s["label"] for s in report["stages"]][-1] == "detector 96 (fast)"
    assert report["detectors"] == []
    with pytest.raises(SystemExit) as usage:
        main(["bench", "--device=cpu", "--compare-detectors=owlv2", "--tiny-detector"])
    assert usage.value.code == 2
