"""Segment everything: SAM-style automatic masks from a point grid, named by the detector.

1. A regular grid of `points_per_side`² single-point prompts covers the frame; each point is
   decoded (in batches) into the decoder's three candidate masks with their predicted IoU.
2. Candidates are filtered by predicted IoU and by stability (the IoU between the mask logits
   thresholded at `mask_threshold + offset` and at `mask_threshold - offset`), then duplicates are
   removed by greedy mask NMS. Filtering and NMS run on the decoder's low-resolution logits
   (S/4 × S/4, padding cropped), which is what keeps them cheap on a CPU.
3. The survivors are upscaled to frame size and made non-overlapping: each pixel belongs to the
   highest-scoring mask that covers it; masks left smaller than `min_area_fraction` are dropped.
4. The detector runs once on the frame with the vocabulary; a mask takes the label of the
   detector box that holds the largest fraction of its pixels (at least `label_overlap`), else
   `fallback_label` ("something").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from inference.core.detections import Detections
from inference.core.timing import StageTimer
from inference.detection.detector import Detector
from inference.segmentation.segmenter import ImageEmbedding, Segmenter

FALLBACK_LABEL = "something"


@dataclass(frozen=True)
class EverythingSettings:
    """Knobs of the automatic mask generator (SAM's defaults where they exist).

    points_per_side:     the grid is points_per_side × points_per_side point prompts
    points_per_batch:    point prompts decoded together (memory: batch × 3 low-res masks)
    iou_threshold:       keep candidates whose predicted IoU is at least this
    stability_threshold: keep candidates whose stability score is at least this
    stability_offset:    logit offset for the stability score
    nms_iou:             a candidate overlapping a better one by more than this mask IoU goes
    max_candidates:      at most this many candidates (best predicted IoU first) enter NMS
    min_area_fraction:   final masks smaller than this fraction of the frame are dropped
    label_overlap:       the fraction of a mask's pixels a detector box must hold to name it
    fallback_label:      the label of masks no box names
    """

    points_per_side: int = 16
    points_per_batch: int = 64
    iou_threshold: float = 0.88
    stability_threshold: float = 0.95
    stability_offset: float = 1.0
    nms_iou: float = 0.7
    max_candidates: int = 300
    min_area_fraction: float = 0.0005
    label_overlap: float = 0.5
    fallback_label: str = FALLBACK_LABEL

    def __post_init__(self) -> None:
        if not 1 <= self.points_per_side <= 128:
            raise ValueError(f"points_per_side must lie in 1..128, got {self.points_per_side}")
        if self.points_per_batch < 1 or self.max_candidates < 1:
            raise ValueError("points_per_batch and max_candidates must be >= 1")
        for name in (
            "iou_threshold",
            "stability_threshold",
            "nms_iou",
            "min_area_fraction",
            "label_overlap",
        ):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.stability_offset < 0:
            raise ValueError(f"stability_offset must be >= 0, got {self.stability_offset}")
        if not self.fallback_label.strip():
            raise ValueError("fallback_label must not be empty")


def point_grid(points_per_side: int, frame_size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """(P², 2) xy frame pixels: the centres of a P × P grid of cells over an (H, W) frame."""
    height, width = frame_size
    offsets = (np.arange(points_per_side, dtype=np.float32) + 0.5) / points_per_side
    xs, ys = np.meshgrid(offsets * width, offsets * height)
    return np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1).astype(np.float32)


def stability_scores(logits: torch.Tensor, threshold: float, offset: float) -> torch.Tensor:
    """(N, h, w) mask logits → (N,) IoU of the masks at threshold + offset and − offset
    (1.0 for a mask empty at both)."""
    flat = logits.flatten(1)
    inner = (flat > threshold + offset).sum(dim=1).float()
    outer = (flat > threshold - offset).sum(dim=1).float()
    return torch.where(outer > 0, inner / outer.clamp(min=1), torch.ones_like(outer))


def mask_nms(
    masks: torch.Tensor, scores: torch.Tensor, iou_threshold: float
) -> npt.NDArray[np.int64]:
    """Greedy NMS over binary masks.

    masks (N, h, w) bool, scores (N,) → indices kept (K,), best score first; a mask whose IoU
    with a kept, better mask exceeds `iou_threshold` is removed.
    """
    count = len(masks)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    order = torch.argsort(scores, descending=True)
    flat = masks[order].flatten(1).float()
    inter = flat @ flat.T
    area = flat.sum(dim=1)
    union = area[:, None] + area[None, :] - inter
    iou = (inter / union.clamp(min=1.0)).cpu().numpy()
    suppressed = np.zeros(count, dtype=bool)
    keep: list[int] = []
    for i in range(count):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order.cpu().numpy()[np.asarray(keep, dtype=np.int64)]


def make_exclusive(
    masks: npt.NDArray[np.bool_], scores: npt.NDArray[np.float32]
) -> npt.NDArray[np.bool_]:
    """(N, H, W) masks → (N, H, W) masks with no pixel in two: the highest score keeps it."""
    out = np.zeros_like(masks)
    taken = np.zeros(masks.shape[1:], dtype=bool)
    for i in np.argsort(-scores, kind="stable"):
        out[i] = masks[i] & ~taken
        taken |= out[i]
    return out


def boxes_of(masks: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """(N, H, W) non-empty masks → (N, 4) xyxy boxes (x2, y2 exclusive) in frame pixels."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        ys = np.flatnonzero(mask.any(axis=1))
        xs = np.flatnonzero(mask.any(axis=0))
        if len(xs) and len(ys):
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def name_masks(
    masks: npt.NDArray[np.bool_],
    found: Detections,
    *,
    overlap: float = 0.5,
    fallback: str = FALLBACK_LABEL,
) -> tuple[tuple[str, ...], npt.NDArray[np.int64]]:
    """Label each of the (N, H, W) masks by the detector box holding most of its pixels.

    found: the detector's boxes (M, 4) xyxy with labels. A box names a mask when it holds at
    least `overlap` of the mask's pixels (ties: the higher detector score).
    Returns N labels and (N,) the index of the naming box in `found` (-1 for `fallback`).
    """
    labels: list[str] = []
    sources = np.full(len(masks), -1, dtype=np.int64)
    height, width = masks.shape[1:] if masks.ndim == 3 else (0, 0)
    for i, mask in enumerate(masks):
        area = int(mask.sum())
        best, best_key = -1, (-1.0, -1.0)
        for j, box in enumerate(found.boxes):
            x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
            x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
            inside = int(mask[y1:y2, x1:x2].sum()) if x2 > x1 and y2 > y1 else 0
            fraction = inside / area if area else 0.0
            key = (fraction, float(found.scores[j]))
            if fraction >= overlap and key > best_key:
                best, best_key = j, key
        sources[i] = best
        labels.append(found.labels[best] if best >= 0 else fallback)
    return tuple(labels), sources


def propose(
    segmenter: Segmenter,
    embedding: ImageEmbedding,
    settings: EverythingSettings,
    mask_threshold: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid prompts → filtered, de-duplicated candidates.

    Returns low-res logits (K, 1, S/4, S/4) on the segmenter's device (padding included, as the
    decoder gives them) and scores (K,) = predicted IoU clipped to [0, 1], best first.
    """
    height, width = embedding.frame_size
    h_in, w_in = embedding.input_size
    grid = point_grid(settings.points_per_side, (height, width))
    scale = np.array([w_in / width, h_in / height], dtype=np.float32)
    model = segmenter.model
    kept_logits: list[torch.Tensor] = []
    kept_scores: list[torch.Tensor] = []
    with torch.inference_mode():
        image_pe = model.prompt_encoder.get_dense_pe()
        features = embedding.features.unsqueeze(0)
        for start in range(0, len(grid), settings.points_per_batch):
            batch = grid[start : start + settings.points_per_batch] * scale
            coords = torch.as_tensor(batch, device=segmenter.device)[:, None, :]  # (B, 1, 2)
            labels = torch.ones(coords.shape[:2], dtype=torch.int64, device=segmenter.device)
            sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            low_res, iou = model.mask_decoder(
                image_embeddings=features,
                image_pe=image_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
            )  # (B, 3, S/4, S/4), (B, 3)
            low_res = low_res.flatten(0, 1).float()  # (3B, S/4, S/4)
            iou = iou.flatten().float()
            side = low_res.shape[-1]
            valid_h = max(1, int(np.ceil(h_in * side / segmenter.image_size)))
            valid_w = max(1, int(np.ceil(w_in * side / segmenter.image_size)))
            visible = low_res[:, :valid_h, :valid_w]
            stability = stability_scores(visible, mask_threshold, settings.stability_offset)
            nonempty = (visible > mask_threshold).flatten(1).any(dim=1)
            keep = (iou >= settings.iou_threshold) & (stability >= settings.stability_threshold)
            keep &= nonempty
            kept_logits.append(low_res[keep])
            kept_scores.append(iou[keep].clamp(0.0, 1.0))
    logits = torch.cat(kept_logits) if kept_logits else torch.zeros(0, 1, 1)
    scores = torch.cat(kept_scores) if kept_scores else torch.zeros(0)
    if len(scores) > settings.max_candidates:
        top = torch.argsort(scores, descending=True)[: settings.max_candidates]
        logits, scores = logits[top], scores[top]
    side = logits.shape[-1]
    valid_h = max(1, int(np.ceil(h_in * side / segmenter.image_size)))
    valid_w = max(1, int(np.ceil(w_in * side / segmenter.image_size)))
    binary = logits[:, :valid_h, :valid_w] > mask_threshold
    keep_idx = torch.as_tensor(mask_nms(binary, scores, settings.nms_iou), dtype=torch.long)
    return logits[keep_idx].unsqueeze(1), scores[keep_idx]


def segment_everything(
    segmenter: Segmenter,
    detector: Detector | None,
    frame: npt.NDArray[np.uint8],
    vocabulary: Sequence[str] = (),
    *,
    settings: EverythingSettings | None = None,
    embedding: ImageEmbedding | None = None,
    box_threshold: float | None = None,
    text_threshold: float | None = None,
    mask_threshold: float | None = None,
    timer: StageTimer | None = None,
) -> Detections:
    """Every object in one RGB frame (H, W, 3), named from the vocabulary where the detector
    finds it.

    Returns `Detections` with masks (N, H, W) bool and pairwise disjoint, boxes (N, 4) xyxy
    around the masks, scores (N,) the decoder's predicted IoU in [0, 1], labels from the
    vocabulary or `settings.fallback_label`; extra["named_by"] is (N,) the index of the naming
    detector box (-1: none) and extra["detector"] the detector's own `Detections`.
    With no detector or an empty vocabulary, every mask gets the fallback label.
    """
    settings = settings or EverythingSettings()
    timer = timer or StageTimer()
    threshold = segmenter.mask_threshold if mask_threshold is None else mask_threshold
    height, width = frame.shape[:2]
    if embedding is None:
        with timer.stage("segment_encode"):
            embedding = segmenter.embed([frame])[0]
    with timer.stage("segment_everything"):
        logits, scores = propose(segmenter, embedding, settings, threshold)
        if len(scores):
            with torch.inference_mode():
                full = segmenter._upscale(logits, embedding)[:, 0] > threshold
            masks = full.cpu().numpy()
        else:
            masks = np.zeros((0, height, width), dtype=bool)
        score_array = scores.cpu().numpy().astype(np.float32)
        masks = make_exclusive(masks, score_array)
        areas = masks.reshape(len(masks), height * width).sum(axis=1)
        big = areas >= max(1.0, settings.min_area_fraction * height * width)
        masks, score_array = masks[big], score_array[big]
    found = Detections.empty()
    if detector is not None and len(vocabulary) and len(masks):
        with timer.stage("detect"):
            (found,) = detector.detect(
                [frame], vocabulary, box_threshold=box_threshold, text_threshold=text_threshold
            )
    labels, named_by = name_masks(
        masks, found, overlap=settings.label_overlap, fallback=settings.fallback_label
    )
    return Detections(
        boxes=boxes_of(masks),
        scores=score_array,
        labels=labels,
        masks=masks,
        extra={"named_by": named_by, "detector": found, "mode": "everything"},
    )
