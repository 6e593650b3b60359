"""Grounding DINO's raw outputs (query logits over tokens, boxes) → labelled boxes in pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import batched_nms

from inference.core.detections import Detections


def postprocess(
    probs: torch.Tensor,
    boxes: torch.Tensor,
    word_tokens: torch.Tensor,
    words: Sequence[str],
    *,
    frame_size: tuple[int, int],
    box_threshold: float,
    text_threshold: float,
    max_detections: int,
    nms_iou: float,
) -> Detections:
    """One frame's raw queries → labelled boxes in frame pixels.

    probs:       (Q, T) sigmoid probabilities per query and caption token
    boxes:       (Q, 4) cx, cy, w, h normalised to the frame (its unpadded image)
    word_tokens: (W, T) bool, which caption tokens spell each word
    frame_size:  (H, W) of the frame

    A query's score is its highest probability over the caption's tokens; queries below
    `box_threshold` are dropped. Its label is the word whose tokens hold the highest probability,
    kept only if that probability reaches `text_threshold`. Then class-wise NMS and the top
    `max_detections` by score.
    """
    height, width = frame_size
    if len(words) != word_tokens.shape[0] or probs.shape[-1] != word_tokens.shape[1]:
        raise ValueError(
            f"{len(words)} words and word_tokens {tuple(word_tokens.shape)} do not fit "
            f"probs {tuple(probs.shape)}"
        )
    scores = probs.max(dim=1).values  # (Q,)
    keep = scores >= box_threshold
    if not bool(word_tokens.any(dim=1).all()):
        raise ValueError("every word needs at least one caption token")
    # (Q, W): each word's best token probability → the best word per query.
    per_word = torch.stack([probs[:, row].max(dim=1).values for row in word_tokens], dim=1)
    word_probs, label_index = per_word.max(dim=1)
    keep &= word_probs >= text_threshold

    cx, cy, w, h = boxes.unbind(-1)
    xyxy = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)
    xyxy = xyxy * xyxy.new_tensor([width, height, width, height])
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
    keep &= torch.isfinite(xyxy).all(dim=1)
    keep &= (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])  # not empty after clipping

    index = keep.nonzero().flatten()
    if index.numel() == 0:
        return Detections.empty()
    picked = batched_nms(xyxy[index], scores[index], label_index[index], nms_iou)
    index = index[picked[:max_detections]]  # batched_nms sorts by decreasing score
    return Detections(
        boxes=xyxy[index].numpy().astype(np.float32),
        scores=scores[index].clamp(0, 1).numpy().astype(np.float32),
        labels=tuple(words[int(i)] for i in label_index[index]),
    )
