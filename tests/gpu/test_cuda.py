"""CUDA checks, run by `scripts/gpu_check.sh` on a machine with an NVIDIA GPU (`pytest -m cuda`).

On machines without one these are skipped: they check that the GPU path gives the CPU's answers
(within a stated tolerance: cuDNN may use TF32 convolutions), not features the CPU lacks.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from skimage import data

from inference.detection.random_weights import build_random_detector
from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.live.results import FrameResult
from inference.models import Models
from inference.segmentation.segmenter import build_random_segmenter

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def test_segmenter_on_cuda_matches_the_cpu() -> None:
    frame = data.chelsea()
    box = np.array([[60, 20, 400, 300]], np.float32)
    answers = []
    for device in (CPU, CUDA):
        segmenter = build_random_segmenter(device, 512, seed=3)
        (embedding,) = segmenter.embed([frame])
        answers.append((embedding.features.float().cpu(), segmenter.predict(boxes=box).masks))
    (cpu_features, cpu_masks), (gpu_features, gpu_masks) = answers
    scale = float(cpu_features.abs().max())
    assert float((cpu_features - gpu_features).abs().max()) < 2e-2 * scale
    assert _iou(cpu_masks[0], gpu_masks[0]) >= 0.98


def test_detector_on_cuda_matches_the_cpu() -> None:
    frame = data.coffee()
    words = ["cup", "spoon", "table"]
    found = []
    for device in (CPU, CUDA):
        detector = build_random_detector(device, seed=5).with_settings(shortest_edge=384)
        found.append(detector.detect([frame], words, box_threshold=0.0, text_threshold=0.0)[0])
    cpu, gpu = found
    assert len(cpu) and len(gpu)
    assert cpu.labels[0] == gpu.labels[0]
    assert np.abs(cpu.boxes[0] - gpu.boxes[0]).max() < 2.0  # pixels
    assert abs(float(cpu.scores[0]) - float(gpu.scores[0])) < 1e-2


def test_engine_on_cuda_serves_four_sessions_in_batches() -> None:
    models = Models(build_random_detector(CUDA, tiny=True), build_random_segmenter(CUDA, 512))
    settings = EngineSettings.for_device(
        "cuda", lighting=LightingSettings(box_threshold=0.0, text_threshold=0.0)
    )
    assert settings.max_batch == 4
    engine = Engine(models, settings)
    engine.start()
    results: dict[str, list[FrameResult]] = {}
    lock = threading.Lock()

    def collect(result: FrameResult) -> None:
        with lock:
            results.setdefault(result.session_id, []).append(result)

    try:
        sessions = [engine.open_session(collect, ["cat"]) for _ in range(4)]
        frame = data.chelsea()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for session in sessions:
                engine.submit(session, frame)
            time.sleep(1 / 15)
            with lock:
                if len(results) == 4 and all(
                    any(r.objects for r in items) for items in results.values()
                ):
                    break
        with lock:
            assert len(results) == 4
            assert all(any(r.objects for r in items) for items in results.values())
        assert engine.stats()["errors"] == 0
    finally:
        engine.stop()
