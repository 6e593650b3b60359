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

import json
import logging
import string
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torchvision.ops import batched_nms
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertTokenizer,
    GroundingDinoConfig,
    GroundingDinoForObjectDetection,
    GroundingDinoImageProcessor,
    MMGroundingDinoConfig,
    MMGroundingDinoForObjectDetection,
    SwinConfig,
)

from inference.choices import DEFAULT_DETECTOR, DETECTOR_GROUPS, DETECTOR_MODELS
from inference.core.detections import Detections
from inference.core.frames import check_frame
from inference.detection.runtime import ImageSideRunner, check_runtime
from inference.labels.vocabulary import VocabularyError, parse_vocabulary
from inference.weights.checkpoints import FETCH_COMMAND, CheckpointError, Manifest, require

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


DetectionModel = GroundingDinoForObjectDetection | MMGroundingDinoForObjectDetection


class VocabularyTooLongError(VocabularyError):
    """The caption for a vocabulary has more tokens than the text encoder accepts."""


@dataclass(frozen=True)
class DetectorKind:
    """One detector that can be chosen: its architecture and where its checkpoint lives.

    name:         the `--detector` choice and the folder under weights/ ("grounding-dino-tiny")
    group:        the manifest group of its files (`inference.models.DETECTOR_GROUPS`)
    model_type:   what its checkpoint's config.json must say it is ("grounding-dino", ...)
    model_class / config_class: the transformers classes that build it
    title:        how logs and reports name it
    """

    name: str
    group: str
    model_type: str
    model_class: type[DetectionModel]
    config_class: type[GroundingDinoConfig] | type[MMGroundingDinoConfig]
    title: str


DETECTOR_KINDS: dict[str, DetectorKind] = {
    kind.name: kind
    for kind in (
        DetectorKind(
            name="grounding-dino-tiny",
            group=DETECTOR_GROUPS["grounding-dino-tiny"],
            model_type="grounding-dino",
            model_class=GroundingDinoForObjectDetection,
            config_class=GroundingDinoConfig,
            title="Grounding DINO",
        ),
        DetectorKind(
            name="mm-grounding-dino-tiny",
            group=DETECTOR_GROUPS["mm-grounding-dino-tiny"],
            model_type="mm-grounding-dino",
            model_class=MMGroundingDinoForObjectDetection,
            config_class=MMGroundingDinoConfig,
            title="MM-Grounding-DINO",
        ),
    )
}
assert tuple(DETECTOR_KINDS) == DETECTOR_MODELS, "inference.models lists the same detectors"


def detector_kind(name: str) -> DetectorKind:
    """The `DetectorKind` called `name`; ValueError naming the choices otherwise."""
    try:
        return DETECTOR_KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_KINDS)}"
        ) from None


def kind_of(model: torch.nn.Module) -> DetectorKind:
    """The `DetectorKind` a built model is (by its exact class: MM-Grounding-DINO's classes do
    not derive from Grounding DINO's, and neither may stand in for the other)."""
    for kind in DETECTOR_KINDS.values():
        if type(model) is kind.model_class:
            return kind
    raise ValueError(
        f"{type(model).__name__} is not a detector this project runs; "
        f"expected one of {', '.join(k.model_class.__name__ for k in DETECTOR_KINDS.values())}"
    )


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


# -- builders ----------------------------------------------------------------------------------


def load_detector(
    manifest: Manifest,
    device: torch.device,
    settings: DetectorSettings | None = None,
    *,
    runtime: str = "torch",
) -> Detector:
    """The detector `settings.model` names (default Grounding DINO), from the checked
    checkpoint files its manifest group lists (`DetectorKind.group`).

    Raises `CheckpointError` naming the directory (or file) and `visionanything weights fetch`
    when a file is missing, fails its hash, holds the other detector's checkpoint, or does not
    load.
    """
    kind = detector_kind((settings or DetectorSettings()).model)
    directory: Path = require(manifest, kind.group)
    hint = f"Run `{FETCH_COMMAND} --only {kind.group}` to download it again."
    _check_model_type(directory, kind, hint)
    try:
        loaded: Any = kind.model_class.from_pretrained(
            directory, local_files_only=True, dtype=torch.float32, output_loading_info=True
        )
        model, info = loaded
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        image_processor = GroundingDinoImageProcessor.from_pretrained(
            directory, local_files_only=True
        )
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"cannot load the detector from {directory}: {type(exc).__name__}: {reason}. {hint}"
        ) from exc
    missing = list(info.get("missing_keys", ())) + list(info.get("mismatched_keys", ()))
    if missing:
        shown = ", ".join(str(key) for key in missing[:3])
        raise CheckpointError(
            f"the detector checkpoint in {directory} lacks {len(missing)} weights "
            f"(e.g. {shown}). {hint}"
        )
    detector = Detector(
        model,
        tokenizer,
        image_processor,
        device,
        settings,
        weights="checkpoint",
        source=str(directory),
        name=directory.name,
        runtime=runtime,
    )
    log.info("detector: %s (%s) from %s on %s", kind.title, detector.name, directory, device)
    return detector


def _check_model_type(directory: Path, kind: DetectorKind, hint: str) -> None:
    """Refuse a checkpoint of the other detector before loading it: transformers would load
    MM-Grounding-DINO's weights into Grounding DINO's classes with only a log line (dropping the
    class heads' biases), and the detections would be quietly wrong."""
    path = directory / "config.json"
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"cannot load the detector from {directory}: {path.name} is unreadable ({exc}). {hint}"
        ) from exc
    if model_type != kind.model_type:
        raise CheckpointError(
            f"{directory} holds a {model_type!r} checkpoint, but {kind.name} needs "
            f"{kind.model_type!r}; put the {kind.title} files there. {hint}"
        )


def build_random_detector(
    device: torch.device,
    settings: DetectorSettings | None = None,
    *,
    seed: int = 0,
    tiny: bool = False,
    runtime: str = "torch",
) -> Detector:
    """The architecture `settings.model` names (default Grounding DINO) with random weights,
    for load tests and tests.

    Full size (the config class's defaults: Swin-T + BERT-base, 900 queries) by default;
    `tiny=True` builds a very small configuration of the same classes for unit tests. The
    tokenizer is a BERT WordPiece tokenizer over a generated vocabulary (`test_vocabulary()`).
    Weights depend only on `seed`; the global torch RNG is left as it was.
    """
    kind = detector_kind((settings or DetectorSettings()).model)
    vocab = test_vocabulary()
    config = tiny_config(len(vocab), kind.name) if tiny else full_config(kind.name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        build: Any = kind.model_class  # its config class matches `config` (DetectorKind)
        model = build(config)
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    image_processor = GroundingDinoImageProcessor()
    name = f"{kind.name}-test" if tiny else kind.name
    log.warning("detector %s: %s (seed %d)", name, RANDOM_WARNING, seed)
    return Detector(
        model,
        tokenizer,
        image_processor,
        device,
        settings,
        weights="random",
        name=name,
        runtime=runtime,
    )


def full_config(
    detector: str = DEFAULT_DETECTOR,
) -> GroundingDinoConfig | MMGroundingDinoConfig:
    """The published architecture of `detector` (Swin-T backbone, BERT-base text, 900 queries;
    both tiny detectors use their config class's defaults)."""
    return detector_kind(detector).config_class()


def tiny_config(
    vocab_size: int, detector: str = DEFAULT_DETECTOR
) -> GroundingDinoConfig | MMGroundingDinoConfig:
    """A ~0.9 M-parameter model of `detector`'s classes (a forward at 200 px ≪ 1 s)."""
    swin: dict[str, Any] = {  # a dict: SwinConfig's typed signature hides `out_indices`
        "embed_dim": 24,
        "depths": [1, 1, 1, 1],
        "num_heads": [1, 2, 3, 6],
        "window_size": 7,
        "out_indices": [2, 3, 4],
    }
    backbone = SwinConfig(**swin)
    text = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    return detector_kind(detector).config_class(
        backbone_config=backbone,
        text_config=text,
        num_queries=30,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # 1 breaks transformers' tied bbox_embed keys
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_n_points=2,
        decoder_n_points=2,
    )


# English object words a child might name: all COCO class names and everyday things.
COCO_CLASSES = (
    "person, bicycle, car, motorcycle, airplane, bus, train, truck, boat, traffic light, "
    "fire hydrant, stop sign, parking meter, bench, bird, cat, dog, horse, sheep, cow, elephant, "
    "bear, zebra, giraffe, backpack, umbrella, handbag, tie, suitcase, frisbee, skis, snowboard, "
    "sports ball, kite, baseball bat, baseball glove, skateboard, surfboard, tennis racket, "
    "bottle, wine glass, cup, fork, knife, spoon, bowl, banana, apple, sandwich, orange, "
    "broccoli, carrot, hot dog, pizza, donut, cake, chair, couch, potted plant, bed, "
    "dining table, toilet, tv, laptop, mouse, remote, keyboard, cell phone, microwave, oven, "
    "toaster, sink, refrigerator, book, clock, vase, scissors, teddy bear, hair drier, toothbrush"
)
EVERYDAY_WORDS = (
    "a an the and of with on in my your this that is it what who where thing things object "
    "cats dogs cups toy toys ball balls block blocks doll car cars duck fish rabbit bunny mouse "
    "lion tiger monkey pig chicken frog turtle snake owl penguin butterfly bee spider animal "
    "animals fruit fruits pear grape grapes strawberry lemon peach cherry melon watermelon "
    "tomato potato egg bread cookie cheese milk juice water glass mug plate table desk door "
    "window wall floor lamp light pen pencil crayon crayons paper box bag hat cap shoe shoes "
    "sock shirt coat jacket dress glasses phone tablet computer screen television camera "
    "plant flower flowers tree leaf leaves grass sun moon star sky cloud rocket astronaut "
    "coffee tea spoon bowl bucket shovel sand hand face eye eyes nose mouth hair head foot "
    "baby boy girl man woman child children teacher mom dad family friend red blue green "
    "yellow black white pink purple brown big small little one two three four five"
)


def test_vocabulary() -> dict[str, int]:
    """A BERT-uncased-style WordPiece vocabulary, token → id, generated in memory.

    Layout follows bert-base-uncased where Grounding DINO depends on it: [PAD] 0, [UNK] 100,
    [CLS] 101, [SEP] 102, [MASK] 103, ASCII punctuation from id 999 (so "." is 1012 and "?" is
    1029), then single characters, "##" word pieces for letters and digits, and whole words.
    """
    tokens = ["[PAD]", *(f"[unused{i}]" for i in range(99))]
    tokens += ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"[unused{i}]" for i in range(99, 99 + 999 - len(tokens))]
    singles = [chr(c) for c in range(0x21, 0x7F) if not chr(c).isupper()]
    tokens += singles
    tokens += [f"##{ch}" for ch in string.ascii_lowercase + string.digits]
    words = COCO_CLASSES.replace(",", " ").split() + EVERYDAY_WORDS.split()
    tokens += [word for word in dict.fromkeys(words) if word not in singles]
    vocab = {token: i for i, token in enumerate(tokens)}
    assert tuple(vocab[t] for t in DELIMITER_TOKENS) == BERT_DELIMITER_IDS
    return vocab


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
