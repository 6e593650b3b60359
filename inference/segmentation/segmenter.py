"""MobileSAM behind our own interface: embed frames once, then prompt with boxes or points.

Stateful predictor style (segment-anything): `set_image(frame)` computes (or reuses from its
cache) the image embedding, `predict(boxes=..., points=...)` decodes masks at frame size. For
cross-session batching, `embed(frames)` runs the encoder on a batch and `predict(embedding=...)`
decodes against any of the returned embeddings.

Frames are RGB uint8 numpy arrays (H, W, 3); coordinates are frame pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from inference.core.detections import Detections
from inference.core.frames import check_frame
from inference.segmentation.mobile_sam_model import SEGMENTER_BUILDERS, Sam
from inference.weights.checkpoints import FETCH_COMMAND, CheckpointError, Manifest, require

log = logging.getLogger(__name__)

CHECKPOINT_GROUP = "mobile_sam"
CHECKPOINT_FILE = "mobile_sam.pt"
ARCHITECTURE = "mobile_sam_vit_t"

EncoderRuntime = Callable[[torch.Tensor], torch.Tensor]
"""(B, 3, S, S) normalised, padded batch → (B, 256, S/16, S/16); eager by default, swappable."""


@dataclass(frozen=True)
class ImageEmbedding:
    """The encoder's view of one frame.

    features:   (256, S/16, S/16) float tensor on the segmenter's device
    frame_size: (H, W) of the frame it came from
    input_size: (h, w) of the frame resized so its longest side is S (before padding to S×S)
    key:        the caller's cache key, if any
    """

    features: torch.Tensor
    frame_size: tuple[int, int]
    input_size: tuple[int, int]
    key: Hashable | None = None


@dataclass(frozen=True)
class MaskPrediction:
    """masks (N, H, W) bool at frame size; scores (N,) float32, the decoder's predicted IoU."""

    masks: npt.NDArray[np.bool_]
    scores: npt.NDArray[np.float32]


class Segmenter:
    """MobileSAM at a configurable encoder size S (512 or 1024 tested)."""

    def __init__(
        self,
        model: Sam,
        device: torch.device,
        *,
        weights: str,
        source: str | None = None,
        mask_threshold: float = 0.0,
        encoder: EncoderRuntime | None = None,
    ) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.weights = weights
        self.source = source
        self.mask_threshold = mask_threshold
        self.image_size: int = int(model.image_encoder.img_size)
        self.encoder: EncoderRuntime = encoder or model.image_encoder
        self.runtime: str = "custom" if encoder is not None else "torch"
        self._mean = model.pixel_mean.view(1, 3, 1, 1)
        self._std = model.pixel_std.view(1, 3, 1, 1)
        self._embedding: ImageEmbedding | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": f"mobile-sam-{self.image_size}",
            "architecture": ARCHITECTURE,
            "weights": self.weights,
            "source": self.source,
            "device": str(self.device),
            "image_size": self.image_size,
            "runtime": self.runtime,
        }

    def use_encoder(self, encoder: EncoderRuntime, runtime: str) -> None:
        """Run `encoder` (built by `inference.segmentation.encoder_runtimes`) from now on.

        One reference swap between two calls: a call in progress keeps the encoder it took; the
        cached embedding stays valid (the runtimes agree within float rounding)."""
        self.encoder = encoder
        self.runtime = runtime

    # -- encoder ---------------------------------------------------------------------------

    def input_size_for(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """(H, W) → (h, w) with the longest side scaled to S (SAM's ResizeLongestSide rule)."""
        height, width = frame_size
        scale = self.image_size / max(height, width)
        return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))

    def prepare(self, frames: Sequence[npt.NDArray[np.uint8]]) -> torch.Tensor:
        """Frames → (B, 3, S, S) normalised and zero-padded at the bottom and right."""
        size = self.image_size
        batch = torch.zeros((len(frames), 3, size, size), dtype=torch.float32)
        for i, frame in enumerate(frames):
            h, w = self.input_size_for(frame.shape[:2])
            shrinking = h < frame.shape[0]
            resized = cv2.resize(
                frame, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            )
            pixels = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1).float()
            batch[i, :, :h, :w] = (pixels - self._mean[0].cpu()) / self._std[0].cpu()
        return batch.to(self.device)

    def embed(
        self, frames: Sequence[npt.NDArray[np.uint8]], keys: Sequence[Hashable | None] | None = None
    ) -> list[ImageEmbedding]:
        """Run the encoder once on a batch of frames (any sizes)."""
        if not frames:
            return []
        for frame in frames:
            check_frame(frame)
        keys = list(keys) if keys is not None else [None] * len(frames)
        with torch.inference_mode():
            features = self.encoder(self.prepare(frames))
        return [
            ImageEmbedding(
                features=features[i],
                frame_size=(frame.shape[0], frame.shape[1]),
                input_size=self.input_size_for(frame.shape[:2]),
                key=keys[i],
            )
            for i, frame in enumerate(frames)
        ]

    def set_image(
        self, frame: npt.NDArray[np.uint8], key: Hashable | None = None
    ) -> ImageEmbedding:
        """Make `frame` the current image; a `key` equal to the cached one reuses its embedding."""
        cached = self._embedding
        if key is not None and cached is not None and cached.key == key:
            return cached
        self._embedding = self.embed([frame], [key])[0]
        return self._embedding

    def reset_image(self) -> None:
        self._embedding = None

    # -- prompts → masks -------------------------------------------------------------------

    def predict(
        self,
        boxes: npt.ArrayLike | None = None,
        points: npt.ArrayLike | None = None,
        point_labels: npt.ArrayLike | None = None,
        *,
        embedding: ImageEmbedding | None = None,
        mask_threshold: float | None = None,
    ) -> MaskPrediction:
        """Decode one mask per prompt, all prompts in one batch.

        boxes:        (N, 4) xyxy frame pixels, or None
        points:       (N, K, 2) xy frame pixels (K points per prompt), or None
        point_labels: (N, K), 1 = foreground, 0 = background (default all 1)
        Box and point prompts of the same index are combined. Point-only prompts are ambiguous,
        so three candidate masks are decoded and the one with the best predicted IoU is kept.
        Returns masks (N, H, W) bool at frame size.
        """
        embedding = embedding or self._embedding
        if embedding is None:
            raise RuntimeError("no image set: call set_image(frame) or pass embedding=")
        height, width = embedding.frame_size
        box_array, point_array, label_array = _check_prompts(boxes, points, point_labels)
        count = len(box_array) if box_array is not None else len(point_array)  # type: ignore[arg-type]
        if count == 0:
            return MaskPrediction(
                np.zeros((0, height, width), dtype=bool), np.zeros(0, dtype=np.float32)
            )
        h_in, w_in = embedding.input_size
        scale = torch.tensor([w_in / width, h_in / height], device=self.device)
        box_torch = point_pair = None
        if box_array is not None:
            clipped = np.clip(box_array, 0, [width, height, width, height])
            box_torch = torch.as_tensor(clipped, dtype=torch.float32, device=self.device)
            box_torch = (box_torch.view(-1, 2, 2) * scale).view(-1, 4)
        if point_array is not None and label_array is not None:
            clipped = np.clip(point_array, 0, [width - 1, height - 1])
            coords = torch.as_tensor(clipped, dtype=torch.float32, device=self.device) * scale
            labels = torch.as_tensor(label_array, dtype=torch.int64, device=self.device)
            point_pair = (coords, labels)
        multimask = box_array is None
        threshold = self.mask_threshold if mask_threshold is None else mask_threshold
        with torch.inference_mode():
            sparse, dense = self.model.prompt_encoder(
                points=point_pair, boxes=box_torch, masks=None
            )
            low_res, iou = self.model.mask_decoder(
                image_embeddings=embedding.features.unsqueeze(0),
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
            if multimask:
                best = iou.argmax(dim=1)
                rows = torch.arange(len(best), device=best.device)
                low_res, iou = low_res[rows, best].unsqueeze(1), iou[rows, best].unsqueeze(1)
            masks = self._upscale(low_res, embedding) > threshold
        return MaskPrediction(
            masks=masks[:, 0].cpu().numpy(), scores=iou[:, 0].float().cpu().numpy()
        )

    def _upscale(self, low_res: torch.Tensor, embedding: ImageEmbedding) -> torch.Tensor:
        """(N, 1, S/4, S/4) logits → (N, 1, H, W).

        One bilinear pass: scale the whole padded S×S canvas to frame pixels, then crop the
        padding. Same geometry as SAM's resize-to-S, crop, resize-to-frame, at a fraction of the
        cost (at S = 1024 and 640×480 that is 0.4 M instead of 1.4 M pixels per mask).
        """
        height, width = embedding.frame_size
        h_in, w_in = embedding.input_size
        canvas = (
            max(height, round(self.image_size * height / h_in)),
            max(width, round(self.image_size * width / w_in)),
        )
        logits = F.interpolate(low_res, canvas, mode="bilinear", align_corners=False)
        return logits[..., :height, :width]

    def segment(
        self,
        detections: Detections,
        *,
        embedding: ImageEmbedding | None = None,
        mask_threshold: float | None = None,
    ) -> Detections:
        """Masks for every detection, prompted by its box."""
        prediction = self.predict(
            boxes=detections.boxes, embedding=embedding, mask_threshold=mask_threshold
        )
        return detections.with_masks(prediction.masks)


def _check_prompts(
    boxes: npt.ArrayLike | None, points: npt.ArrayLike | None, point_labels: npt.ArrayLike | None
) -> tuple[
    npt.NDArray[np.float32] | None, npt.NDArray[np.float32] | None, npt.NDArray[np.int64] | None
]:
    if boxes is None and points is None:
        raise ValueError("give box prompts, point prompts, or both")
    box_array = point_array = label_array = None
    if boxes is not None:
        box_array = np.asarray(boxes, dtype=np.float32)
        if box_array.size == 0:
            box_array = box_array.reshape(0, 4)
        if box_array.ndim != 2 or box_array.shape[1] != 4 or not np.isfinite(box_array).all():
            raise ValueError(f"boxes must be a finite (N, 4) xyxy array, got {box_array.shape}")
    if points is not None:
        point_array = np.asarray(points, dtype=np.float32)
        if point_array.ndim == 2:  # one point per prompt
            point_array = point_array[:, None, :]
        if point_array.ndim != 3 or point_array.shape[2] != 2 or not np.isfinite(point_array).all():
            raise ValueError(f"points must be a finite (N, K, 2) array, got {point_array.shape}")
        if point_labels is None:
            label_array = np.ones(point_array.shape[:2], dtype=np.int64)
        else:
            label_array = np.asarray(point_labels, dtype=np.int64).reshape(point_array.shape[:2])
            if not np.isin(label_array, (0, 1)).all():
                raise ValueError("point labels must be 1 (foreground) or 0 (background)")
    if box_array is not None and point_array is not None and len(box_array) != len(point_array):
        raise ValueError(f"{len(box_array)} boxes but {len(point_array)} point prompts")
    return box_array, point_array, label_array


# -- builders ------------------------------------------------------------------------------


def build_random_segmenter(
    device: torch.device, image_size: int = 512, *, seed: int = 0
) -> Segmenter:
    """The real MobileSAM architecture with random weights (for load tests and tests)."""
    torch.manual_seed(seed)
    model = SEGMENTER_BUILDERS[ARCHITECTURE](image_size)
    log.warning("segmenter: RANDOM WEIGHTS (seed %d): masks are meaningless", seed)
    return Segmenter(model, device, weights="random")


def load_segmenter(manifest: Manifest, device: torch.device, image_size: int = 512) -> Segmenter:
    """MobileSAM from the checked checkpoint in the manifest's weights directory."""
    path: Path = require(manifest, CHECKPOINT_GROUP) / CHECKPOINT_FILE
    hint = f"Run `{FETCH_COMMAND}` to download it again."
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}. {hint}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict. {hint}")
    model = SEGMENTER_BUILDERS[ARCHITECTURE](image_size)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).splitlines()[0]
        raise CheckpointError(
            f"checkpoint {path} does not fit MobileSAM: {first_line}. {hint}"
        ) from exc
    log.info("segmenter: MobileSAM at %d from %s on %s", image_size, path, device)
    return Segmenter(model, device, weights="checkpoint", source=str(path))
