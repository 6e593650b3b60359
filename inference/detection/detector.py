"""Grounding DINO behind our own interface: frames + vocabulary in, labelled boxes out.

`Detector.detect(frames, vocabulary)` runs transformers' `GroundingDinoForObjectDetection` on a
batch of RGB uint8 frames (H, W, 3) of any sizes and returns one `Detections` per frame, boxes
xyxy in that frame's own pixels, each labelled with one vocabulary word. Post-processing is ours
(not the processor's `post_process_grounded_object_detection`): labels are whole vocabulary words,
never partial phrases, and boxes go through class-wise NMS.

Two detectors can be chosen (`DetectorSettings.model`, the CLI's `--detector`; `DETECTOR_KINDS`):
"grounding-dino-tiny" (IDEA-Research's Grounding DINO Swin-T, the default) and
"mm-grounding-dino-tiny" (OpenMMLab's MM-Grounding-DINO Swin-T, `MMGroundingDinoForObjectDetection`:
the same architecture retrained, zero-shot LVIS minival AP 41.4 against 28.8 as published). They
share the tokenizer (BERT uncased), the image processor and everything below.

Builders: `load_detector` (checked checkpoint from the manifest) and `build_random_detector`
(the same architecture with random weights, full size or tiny for unit tests);
`inference.models.load_models` picks between them for `--models real|random`.

Runtimes (`Detector(..., runtime=...)` or `detector.with_runtime(name)`; see
`inference.detection.runtime`): "torch" runs transformers' forward as is (text recomputed per call,
the reference); "fast" runs the text side once per vocabulary and our image-side module in
PyTorch; "openvino" converts that image side to OpenVINO f32 per input size (cached on disk),
falling back to "fast" where it cannot.
All three give the same detections up to float rounding; `detect()` is the same for all.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from transformers import (
    GroundingDinoImageProcessor,
)

from inference.choices import DEFAULT_DETECTOR
from inference.core.detections import Detections
from inference.core.frames import check_frame
from inference.detection.kinds import DetectionModel, detector_kind, kind_of
from inference.detection.postprocess import postprocess
from inference.detection.runtime import ImageSideRunner, check_runtime
from inference.labels.vocabulary import VocabularyError, parse_vocabulary
from inference.weights.checkpoints import FETCH_COMMAND, CheckpointError

log = logging.getLogger(__name__)

CHECKPOINT_GROUP = "grounding_dino"  # the default detector's group and name
CHECKPOINT_NAME = "grounding-dino-tiny"
RANDOM_WARNING = "RANDOM WEIGHTS: detections are meaningless"
# Token ids the transformers model treats as phrase delimiters: [CLS], [SEP], "." and "?" in
# BERT-base-uncased (`modeling_grounding_dino.SPECIAL_TOKENS`). Our generated test vocabulary
# puts the same tokens at the same ids, so saved tiny models load into stock transformers too.
DELIMITER_TOKENS = ("[CLS]", "[SEP]", ".", "?")
BERT_DELIMITER_IDS = (101, 102, 1012, 1029)
_TEXT_CACHE_SIZE = 16
# sigmoid() rounds logits above ~17 to exactly 1.0 in float32; keep probabilities below 1 so that
# a threshold of 1.0 means "nothing" (scores stay in [0, 1]).
_MAX_PROB = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


class VocabularyTooLongError(VocabularyError):
    """The caption for a vocabulary has more tokens than the text encoder accepts."""


@dataclass(frozen=True)
class DetectorSettings:
    """Which detector, thresholds, input size and output limits.

    model:          which detector (`DETECTOR_KINDS`: "grounding-dino-tiny" or
                    "mm-grounding-dino-tiny"); the builders read it, and a built `Detector`'s
                    settings always name the model it holds
    box_threshold:  keep a query when its best caption-token probability reaches this
    text_threshold: label a kept query with the word whose best token probability is highest,
                    only if that probability reaches this (otherwise the query is dropped)
    shortest_edge / longest_edge: frames are resized (aspect kept) so the short side is
                    `shortest_edge` unless the long side would exceed `longest_edge`; cost grows
                    with the pixel count (800/1333 as published; 384-512 is 3-6x cheaper on CPU)
    max_detections: at most this many boxes per frame after NMS, highest scores first
    nms_iou:        class-wise NMS IoU threshold (boxes with the same label)
    """

    box_threshold: float = 0.35
    text_threshold: float = 0.25
    shortest_edge: int = 800
    longest_edge: int = 1333
    max_detections: int = 20
    nms_iou: float = 0.5
    model: str = DEFAULT_DETECTOR

    def __post_init__(self) -> None:
        detector_kind(self.model)  # ValueError for an unknown detector
        _check_threshold("box_threshold", self.box_threshold)
        _check_threshold("text_threshold", self.text_threshold)
        _check_threshold("nms_iou", self.nms_iou)
        if self.shortest_edge < 32 or self.longest_edge < self.shortest_edge:
            raise ValueError(
                "need 32 <= shortest_edge <= longest_edge, got "
                f"{self.shortest_edge} and {self.longest_edge}"
            )
        if self.max_detections < 1:
            raise ValueError(f"max_detections must be at least 1, got {self.max_detections}")


@dataclass(frozen=True)
class EncodedText:
    """A tokenised caption for one vocabulary.

    words:          the W vocabulary words, in caption order
    input_ids:      (1, T) int64, [CLS] word tokens and " ." separators [SEP]
    attention_mask: (1, T) int64, all ones
    token_type_ids: (1, T) int64, all zeros
    word_tokens:    (W, T) bool, True where token t belongs to word w
    """

    words: tuple[str, ...]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    word_tokens: torch.Tensor

    @property
    def token_count(self) -> int:
        return int(self.input_ids.shape[1])


class Detector:
    """Open-vocabulary detection with Grounding DINO or MM-Grounding-DINO on one device.

    Not thread-safe: one worker thread (or process) owns a `Detector` and calls `detect`.
    """

    def __init__(
        self,
        model: DetectionModel,
        tokenizer: Any,
        image_processor: GroundingDinoImageProcessor,
        device: torch.device,
        settings: DetectorSettings | None = None,
        *,
        weights: str,
        source: str | None = None,
        name: str | None = None,
        runtime: str = "torch",
        fp16: bool = False,
        cache_dir: Path | None = None,
        runner: ImageSideRunner | None = None,
    ) -> None:
        """runtime: "torch" | "fast" | "openvino" (see the module docstring).
        fp16: on CUDA only, run the "fast" image side under fp16 autocast (opt-in, unmeasured).
        cache_dir: where "openvino" keeps converted models (default `default_cache_dir()`).
        runner: the runtime state of another detector on the same model, to share it.
        `settings.model` is set to the kind of `model` (`kind_of`): the model decides.
        """
        if weights not in ("checkpoint", "random"):
            raise ValueError(f"weights must be 'checkpoint' or 'random', got {weights!r}")
        module: torch.nn.Module = model  # transformers' own `.to` typing confuses mypy
        self.kind = kind_of(module)
        module.to(device).eval()
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.device = device
        self.settings = replace(settings or DetectorSettings(), model=self.kind.name)
        self.weights = weights
        self.source = source
        self.name = name or _config_name(model.config)
        self.max_text_len = int(model.config.max_text_len)
        self._text_cache: OrderedDict[tuple[str, ...], EncodedText] = OrderedDict()
        self._align_delimiters()
        self.runtime = check_runtime(runtime)
        if runner is not None and runner.model is not model:
            raise ValueError("a shared runner must belong to the same model")
        self.runner = runner or ImageSideRunner(model, device, cache_dir=cache_dir, fp16=fp16)
        if self.runtime != "torch" and self.runner.unsupported is not None:
            log.warning(
                "detector: runtime %r unavailable (%s); using transformers' forward",
                self.runtime,
                self.runner.unsupported,
            )

    # -- text --------------------------------------------------------------------------------

    @staticmethod
    def caption(vocabulary: Sequence[str]) -> str:
        """The text prompt for a vocabulary: "cat . cup ." (cleaned, lowercased words)."""
        return _caption(parse_vocabulary(vocabulary))

    def token_count(self, vocabulary: Sequence[str]) -> int:
        """Tokens in the caption, [CLS] and [SEP] included; at most `max_text_len` is usable."""
        caption = self.caption(vocabulary)
        return len(self.tokenizer(caption, add_special_tokens=True)["input_ids"])

    def encode_text(self, vocabulary: Sequence[str]) -> EncodedText:
        """Tokenise the caption once per vocabulary (small LRU cache).

        Raises `VocabularyError` for an unusable vocabulary and `VocabularyTooLongError` when the
        caption exceeds the text encoder's `max_text_len` tokens (never silently truncated).
        """
        words = parse_vocabulary(vocabulary)
        cached = self._text_cache.get(words)
        if cached is not None:
            self._text_cache.move_to_end(words)
            return cached
        caption = _caption(words)
        encoded = self.tokenizer(
            caption,
            add_special_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        ids: list[int] = list(encoded["input_ids"])
        if len(ids) > self.max_text_len:
            raise VocabularyTooLongError(
                f"vocabulary is too long for the detector: its caption has {len(ids)} tokens, "
                f"the text encoder takes at most {self.max_text_len}; name fewer or shorter things"
            )
        word_tokens = torch.zeros((len(words), len(ids)), dtype=torch.bool)
        starts = _word_starts(words)
        for t, ((begin, end), special) in enumerate(
            zip(encoded["offset_mapping"], encoded["special_tokens_mask"], strict=True)
        ):
            if special or end <= begin:
                continue
            for w, (word_begin, word) in enumerate(zip(starts, words, strict=True)):
                if word_begin <= begin < word_begin + len(word):
                    word_tokens[w, t] = True
                    break
        empty = [word for word, row in zip(words, word_tokens, strict=True) if not bool(row.any())]
        if empty:
            raise VocabularyError(f"the detector's tokenizer finds no tokens in {empty!r}")
        input_ids = torch.tensor([ids], dtype=torch.long)
        text = EncodedText(
            words=words,
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            token_type_ids=torch.zeros_like(input_ids),
            word_tokens=word_tokens,
        )
        self._text_cache[words] = text
        while len(self._text_cache) > _TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        return text

    # -- detection ---------------------------------------------------------------------------

    def detect(
        self,
        frames: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8],
        vocabulary: Sequence[str],
        *,
        box_threshold: float | None = None,
        text_threshold: float | None = None,
    ) -> list[Detections]:
        """Find the vocabulary's things in a batch of frames (any sizes, one forward pass).

        frames: B RGB uint8 arrays (H_i, W_i, 3), or one (B, H, W, 3) array.
        Returns B `Detections`: boxes (N_i, 4) xyxy float32 in frame i's pixels (clipped to
        it), scores (N_i,) in [0, 1], labels from the (cleaned) vocabulary; at most
        `settings.max_detections` each, highest score first.

        Raises ValueError for bad frames or thresholds, `VocabularyError` (a ValueError) for an
        unusable vocabulary, `VocabularyTooLongError` when its caption exceeds the text encoder.
        Thresholds default to the settings'; 1.0 keeps nothing, 0.0 keeps every query.
        """
        box_threshold = self.settings.box_threshold if box_threshold is None else box_threshold
        text_threshold = self.settings.text_threshold if text_threshold is None else text_threshold
        _check_threshold("box_threshold", box_threshold)
        _check_threshold("text_threshold", text_threshold)
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4:
                raise ValueError(
                    f"frames must be a list of (H, W, 3) arrays (or one (B, H, W, 3) array), "
                    f"got one array of shape {frames.shape}; pass [frame] for a single frame"
                )
            frames = list(frames)
        for index, frame in enumerate(frames):
            try:
                check_frame(frame)
            except ValueError as exc:
                raise ValueError(f"frame {index}: {exc}") from exc
        text = self.encode_text(vocabulary)
        if not frames:
            return []

        batch = len(frames)
        pixels = self._preprocess(list(frames))
        logits, boxes = self._forward(pixels["pixel_values"], pixels["pixel_mask"], text)
        probs = logits.sigmoid().clamp(max=_MAX_PROB)
        return [
            postprocess(
                probs[i],
                boxes[i],
                text.word_tokens,
                text.words,
                frame_size=(int(frames[i].shape[0]), int(frames[i].shape[1])),
                box_threshold=box_threshold,
                text_threshold=text_threshold,
                max_detections=self.settings.max_detections,
                nms_iou=self.settings.nms_iou,
            )
            for i in range(batch)
        ]

    def _forward(
        self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor, text: EncodedText
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw model outputs on the CPU: logits (B, Q, T) over the caption's T tokens and boxes
        (B, Q, 4) cx, cy, w, h in [0, 1], both float32, by this detector's runtime."""
        batch = int(pixel_values.shape[0])
        if self.runtime == "torch" or self.runner.unsupported is not None:
            with torch.inference_mode():
                outputs = self.model(
                    pixel_values=pixel_values.to(self.device),
                    pixel_mask=pixel_mask.to(self.device),
                    input_ids=text.input_ids.expand(batch, -1).to(self.device),
                    attention_mask=text.attention_mask.expand(batch, -1).to(self.device),
                    token_type_ids=text.token_type_ids.expand(batch, -1).to(self.device),
                )
                # logits (B, Q, max_text_len): -inf beyond the caption; keep its T tokens.
                logits = outputs.logits[:, :, : text.token_count].float().cpu()
                return logits, outputs.pred_boxes.float().cpu()
        side = self.runner.text_side(text.words, text.input_ids, text.token_type_ids)
        return self.runner.run(self.runtime, pixel_values, pixel_mask, side)

    def warm_up(self, frame_size: tuple[int, int] = (480, 640)) -> float:
        """Run one detection on a blank (H, W) frame so that an "openvino" detector converts or
        loads its model for that input size now (first run: ~20-60 s on 2 cores) rather than on
        the first keyframe. Returns the seconds it took."""
        started = time.perf_counter()
        height, width = frame_size
        self.detect([np.zeros((height, width, 3), np.uint8)], ["thing"])
        return time.perf_counter() - started

    def raw_outputs(
        self, frames: Sequence[npt.NDArray[np.uint8]], vocabulary: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's logits (B, Q, T) and boxes (B, Q, 4) for frames, before post-processing
        (for comparing runtimes)."""
        text = self.encode_text(vocabulary)
        pixels = self._preprocess(list(frames))
        return self._forward(pixels["pixel_values"], pixels["pixel_mask"], text)

    def _preprocess(self, frames: list[npt.NDArray[np.uint8]]) -> Any:
        return self.image_processor(
            images=frames,
            size={
                "shortest_edge": self.settings.shortest_edge,
                "longest_edge": self.settings.longest_edge,
            },
            input_data_format="channels_last",
            return_tensors="pt",
        )

    def describe(self) -> dict[str, Any]:
        """What is loaded, for start-up logs, /readyz and `stats`."""
        config = self.model.config
        return {
            "name": self.name,
            "detector": self.kind.name,
            "architecture": type(self.model).__name__,
            "weights": self.weights,
            "source": self.source,
            "device": str(self.device),
            "input_size": {
                "shortest_edge": self.settings.shortest_edge,
                "longest_edge": self.settings.longest_edge,
            },
            "max_text_len": self.max_text_len,
            "num_queries": int(config.num_queries),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "settings": asdict(self.settings),
            "runtime": self.runtime,
        }

    def with_settings(self, **changes: Any) -> Detector:
        """A detector sharing this model (no copy) with some settings changed.

        The model itself cannot change here (`model=` another detector raises ValueError):
        build that one with `build_random_detector` or `load_detector`."""
        if changes.get("model", self.kind.name) != self.kind.name:
            raise ValueError(
                f"this detector holds {self.kind.name}; build a {changes['model']} detector "
                "with build_random_detector or load_detector instead"
            )
        return Detector(
            self.model,
            self.tokenizer,
            self.image_processor,
            self.device,
            replace(self.settings, **changes),
            weights=self.weights,
            source=self.source,
            name=self.name,
            runtime=self.runtime,
            runner=self.runner,
        )

    def with_runtime(self, runtime: str, *, fp16: bool | None = None) -> Detector:
        """A detector sharing this model and its runtime state (text cache, converted models)
        that runs `runtime`: "torch", "fast" or "openvino".

        fp16: when given, switch fp16 autocast of the "fast" image side on CUDA on or off for
        every detector sharing this model (ignored on the CPU; opt-in and unmeasured: no GPU
        was at hand when it was written).
        """
        check_runtime(runtime)
        if fp16 is not None:
            self.runner.fp16 = fp16
        return Detector(
            self.model,
            self.tokenizer,
            self.image_processor,
            self.device,
            self.settings,
            weights=self.weights,
            source=self.source,
            name=self.name,
            runtime=runtime,
            runner=self.runner,
        )

    def _align_delimiters(self) -> None:
        """Make the model split phrases at this tokenizer's [CLS], [SEP], "." and "?" ids."""
        vocab = self.tokenizer.get_vocab()
        missing = [token for token in DELIMITER_TOKENS if token not in vocab]
        if missing:
            raise CheckpointError(
                f"the detector's tokenizer lacks the tokens {missing}; "
                f"run `{FETCH_COMMAND}` to download the tokenizer files again"
            )
        ids = tuple(int(vocab[token]) for token in DELIMITER_TOKENS)
        text_config: Any = self.model.config.text_config
        text_vocab = int(text_config.vocab_size)
        if max(vocab.values()) >= text_vocab:
            raise CheckpointError(
                f"the detector's tokenizer has ids up to {max(vocab.values())}, its text encoder "
                f"only {text_vocab}; run `{FETCH_COMMAND}` to download matching files"
            )
        buffer = self.model.model.special_tokens
        if tuple(int(i) for i in buffer.tolist()) != ids:
            log.info("detector: phrase delimiters at token ids %s", ids)
            self.model.model.special_tokens = torch.tensor(
                ids, dtype=torch.long, device=self.device
            )


# -- helpers -----------------------------------------------------------------------------------


def _caption(words: Sequence[str]) -> str:
    return " . ".join(words) + " ."


def _word_starts(words: Sequence[str]) -> list[int]:
    """Character offset of each word in `_caption(words)`."""
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + len(" . ")
    return starts


def _config_name(config: Any) -> str:
    path = str(getattr(config, "_name_or_path", "") or "")
    return Path(path).name if path else str(getattr(config, "model_type", "grounding-dino"))


def _check_threshold(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
