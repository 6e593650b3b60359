"""Tiny random-weight models: the real classes, small enough for a test (a detector forward at
200 px takes well under a second on a CPU)."""

from __future__ import annotations

import torch

from inference.detection.random_weights import build_random_detector
from inference.models import Models
from inference.segmentation.segmenter import build_random_segmenter


def tiny_random_models(segmenter_size: int = 512) -> Models:
    """The tiny Grounding DINO and a random MobileSAM at `segmenter_size`, on the CPU."""
    cpu = torch.device("cpu")
    return Models(
        build_random_detector(cpu, tiny=True), build_random_segmenter(cpu, segmenter_size)
    )
