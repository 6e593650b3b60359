"""Faster runtimes for Grounding DINO keyframe detection, behind `Detector(runtime=...)`.

Every runtime serves both detector choices (Grounding DINO and MM-Grounding-DINO, see
`inference.detection.grounding_dino_image_side`); the OpenVINO cache key hashes the image side's
weights, MM-Grounding-DINO's class-head biases included, so the two never share a converted
model.

- "torch": transformers' `GroundingDinoForObjectDetection.forward` as is (BERT and the phrase
  masks recomputed for every frame). The reference path.
- "fast": the text side once per vocabulary (`compute_text_side`, small LRU cache) and our
  `GroundingDinoImageSide` module in eager PyTorch for the frames. Same maths; only the
  deformable-attention sums run in another order (logits differ by ~1e-5).
- "openvino": the same image side converted with `openvino.convert_model` (spatial size fixed,
  batch and caption length dynamic) and compiled for the CPU in f32 (precision hint f32: its
  default on CPUs with bf16 is lossy bf16) once per batch size, the caption length left
  dynamic (a new vocabulary never recompiles). One converted model per input size, cached on disk
  (`<cache dir>/grounding_dino_openvino/<key>/`, key = sha256 of the image side's weights, input
  size, OpenVINO and torch versions, max_text_len and this file's format version; written to a
  temporary directory and renamed into place; a file that fails its recorded sha256 is rebuilt;
  least recently used graphs are evicted past the cache's size bound, see `graph_cache`).
  When OpenVINO is missing, the device is not a CPU, or a conversion fails, that input size runs
  on "fast" instead (logged once, never raised).

`ImageSideRunner` holds that state; detectors made with `Detector.with_runtime` /
`with_settings` from one detector share it (one text cache, one set of compiled models).
With `background_conversion` (the live server), no detection waits for a conversion: a new
input size runs on the torch image side at once while a background thread (one build at a
time in the process, lowest CPU priority) converts and compiles it; later calls use it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from inference.detection.grounding_dino_image_side import (
    GroundingDinoImageSide,
    supports_image_side,
)
from inference.detection.text_side import TextSide, compute_text_side
from inference.graphs import cache as graph_cache
from inference.graphs.background_builds import start_build
from inference.graphs.keys import entry_key, weights_sha256

if TYPE_CHECKING:
    pass
from inference.core import dependency_guards
from inference.core.directories import default_cache_dir

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "fast", "openvino")
NOISE_FLOOR = "noise floor"
CONVERT_MESSAGE = "converting Grounding DINO image side to OpenVINO (first run only)…"
_CACHE_FORMAT = 2  # bump when GroundingDinoImageSide's inputs or maths change
_TEXT_CACHE_SIZE = 16
MODEL_FILES = ("model.xml", "model.bin")  # an OpenVINO entry


def check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise ValueError(f"detector runtime must be one of {', '.join(RUNTIMES)}; got {name!r}")
    return name


def openvino_version() -> str | None:
    """The installed OpenVINO version, or None when it does not import."""
    try:
        openvino = importlib.import_module("openvino")
    except Exception:
        return None
    return str(openvino.get_version())


class ImageSideRunner:
    """Text-side cache, image-side module and OpenVINO models for one detection model.

    Not thread-safe (like `Detector`): one worker owns it.
    """

    def __init__(
        self,
        detection_model: nn.Module,
        device: torch.device,
        *,
        cache_dir: Path | None = None,
        fp16: bool = False,
    ) -> None:
        self.model = detection_model
        self.config: Any = detection_model.config
        self.device = device
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self.fp16 = fp16
        self.unsupported = supports_image_side(self.config)
        self._image_side: GroundingDinoImageSide | None = None
        self._text: OrderedDict[tuple[Any, ...], TextSide] = OrderedDict()
        self._converted: dict[tuple[int, int], Any] = {}  # per (H, W): ov.Model
        self._compiled: dict[tuple[tuple[int, int], int], Any] = {}  # per ((H, W), batch)
        self._failed: dict[tuple[int, int], str] = {}
        self._weights_digest: str | None = None
        self.text_side_runs = 0  # how often BERT ran (tests, stats)
        self.conversions = 0  # OpenVINO conversions done by this runner
        # serve sets this: a new input size runs on torch at once while its OpenVINO model is
        # converted in the background; tests and commands convert before the first answer
        self.background_conversion = False
        self._building: dict[tuple[int, int], threading.Thread] = {}

    # -- text --------------------------------------------------------------------------------

    def text_side(
        self, words: tuple[str, ...], input_ids: torch.Tensor, token_type_ids: torch.Tensor
    ) -> TextSide:
        """The cached `TextSide` for a caption (BERT runs once per vocabulary).

        input_ids, token_type_ids: (1, T) int64 (CPU); the attention mask is all ones.
        """
        key = (words, tuple(int(i) for i in input_ids[0].tolist()))
        cached = self._text.get(key)
        if cached is not None:
            self._text.move_to_end(key)
            return cached
        ids = input_ids.to(self.device)
        text = compute_text_side(
            self.model, ids, torch.ones_like(ids), token_type_ids.to(self.device)
        )
        self.text_side_runs += 1
        self._text[key] = text
        while len(self._text) > _TEXT_CACHE_SIZE:
            self._text.popitem(last=False)
        return text

    # -- image -------------------------------------------------------------------------------

    @property
    def image_side(self) -> GroundingDinoImageSide:
        if self._image_side is None:
            self._image_side = GroundingDinoImageSide(self.model).eval()
        return self._image_side

    def run(
        self,
        runtime: str,
        pixel_values: torch.Tensor,
        pixel_mask: torch.Tensor,
        text: TextSide,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, Q, T) and boxes (B, Q, 4) float32 on the CPU for a batch of pixels.

        pixel_values (B, 3, H, W) float32, pixel_mask (B, H, W) int64 as the processor gives.
        """
        batch = int(pixel_values.shape[0])
        if runtime == "openvino":
            compiled = self._openvino_model(pixel_values, pixel_mask, text)
            if compiled is not None:
                inputs = [
                    pixel_values.numpy(),
                    pixel_mask.to(torch.int64).numpy(),
                    *(t.contiguous().cpu().numpy() for t in text.expand(batch)),
                ]
                result = compiled(inputs)
                logits = torch.from_numpy(np.asarray(result[0]))
                boxes = torch.from_numpy(np.asarray(result[1]))
                return logits, boxes
        return self._run_torch(pixel_values, pixel_mask, text)

    def _run_torch(
        self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor, text: TextSide
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = int(pixel_values.shape[0])
        autocast = (
            torch.autocast("cuda", dtype=torch.float16)
            if self.fp16 and self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        # fp16 on CUDA is opt-in and unmeasured (no GPU where this was written).
        with torch.inference_mode(), autocast:
            logits, boxes = self.image_side(
                pixel_values.to(self.device),
                pixel_mask.to(self.device),
                *text.expand(batch),
            )
        return logits.float().cpu(), boxes.float().cpu()

    # -- OpenVINO ----------------------------------------------------------------------------

    def openvino_failure(self, size: tuple[int, int]) -> str | None:
        """Why input size (H, W) runs on torch instead of OpenVINO, or None."""
        return self._failed.get(size)

    def _openvino_model(
        self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor, text: TextSide
    ) -> Any | None:
        """The compiled model for this input size and batch size, or None (then use torch)."""
        size = (int(pixel_values.shape[-2]), int(pixel_values.shape[-1]))
        batch = int(pixel_values.shape[0])
        compiled = self._compiled.get((size, batch))
        if compiled is not None:
            return compiled
        if size in self._failed:
            return None
        if self.background_conversion and size not in self._converted:
            self._build_in_background(size, batch, pixel_values, pixel_mask, text)
            return None  # this call, and every one until the build ends, runs on torch
        return self._build(size, batch, pixel_values, pixel_mask, text)

    def _build(
        self,
        size: tuple[int, int],
        batch: int,
        pixel_values: torch.Tensor,
        pixel_mask: torch.Tensor,
        text: TextSide,
    ) -> Any | None:
        """Convert (or load) the model for input size `size` unless that is done, compile it for
        `batch` and keep both; None when that fails (the reason is kept: the size runs on
        torch from now on). Runs on the owner's thread or on a background build's."""
        try:
            converted = self._converted.get(size)
            if converted is None:
                converted = self._load_or_convert(size, pixel_values, pixel_mask, text)
            compiled = self._compile(converted, batch)
        except Exception as exc:
            self._failed[size] = _reason(exc)
            log.warning(
                "detector: OpenVINO unavailable for input %dx%d (%s); using the torch image side",
                *size,
                self._failed[size],
            )
            return None
        # compiled first: an owner that finds the converted model finds its compiled one too
        # (dict stores are atomic, so a background build's result appears whole)
        self._compiled[(size, batch)] = compiled
        self._converted[size] = converted
        return compiled

    def _build_in_background(
        self,
        size: tuple[int, int],
        batch: int,
        pixel_values: torch.Tensor,
        pixel_mask: torch.Tensor,
        text: TextSide,
    ) -> None:
        """Start converting (or loading) and compiling input size `size` in a thread of its own,
        unless one is at it already. Builds run one at a time in the process (each takes the CPU
        for a minute or more) at the lowest CPU priority, so live video keeps its share."""
        if size in self._building:
            return
        example = (pixel_values[:1].clone(), pixel_mask[:1].clone(), text)

        def build() -> None:
            if self._build(size, batch, *example) is not None:
                log.info("detector: OpenVINO image side ready for %dx%d", *size)

        self._building[size] = start_build(f"openvino-build-{size[0]}x{size[1]}", build)

    def wait_for_builds(self, timeout: float | None = None) -> bool:
        """Wait for the background builds started so far; True when all have ended."""
        for thread in list(self._building.values()):
            thread.join(timeout)
        return not any(t.is_alive() for t in self._building.values())

    def _compile(self, converted: Any, batch: int) -> Any:
        """Compile for the CPU in f32 with the batch size fixed (the caption length stays
        dynamic): a static batch measured ~5-10 % faster than a dynamic one."""
        ov = importlib.import_module("openvino")
        model = converted.clone()
        shapes = {}
        for port in model.inputs:
            shape = port.get_partial_shape()
            shape[0] = batch
            shapes[port] = shape
        model.reshape(shapes)
        threads = max(1, torch.get_num_threads())
        return ov.Core().compile_model(
            model,
            "CPU",
            {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads},
        )

    def cache_key(self, size: tuple[int, int]) -> str:
        """Directory name of the converted model for input size (H, W)."""
        parts = {
            "format": _CACHE_FORMAT,
            "weights": self.weights_digest(),
            "input": list(size),
            "openvino": openvino_version(),
            "torch": torch.__version__,
            "max_text_len": int(self.config.max_text_len),
            "d_model": int(self.config.d_model),
        }
        return entry_key(f"{size[0]}x{size[1]}", parts)

    def cache_path(self, size: tuple[int, int]) -> Path:
        return self.cache_dir / graph_cache.DETECTOR_SUBDIR / self.cache_key(size)

    def weights_digest(self) -> str:
        """sha256 over the image side's parameters and buffers (names, dtypes, shapes, bytes)."""
        if self._weights_digest is None:
            self._weights_digest = weights_sha256(self.image_side)
        return self._weights_digest

    def _load_or_convert(
        self,
        size: tuple[int, int],
        pixel_values: torch.Tensor,
        pixel_mask: torch.Tensor,
        text: TextSide,
    ) -> Any:
        if self.device.type != "cpu":
            raise RuntimeError(f"OpenVINO runs on the CPU here; the detector is on {self.device}")
        if self.unsupported is not None:
            raise RuntimeError(self.unsupported)
        ov = importlib.import_module("openvino")
        core = ov.Core()
        directory = self.cache_path(size)
        model = None
        if directory.is_dir():
            try:
                with graph_cache.reading(directory):  # marks it used, held against eviction
                    graph_cache.verify_entry(directory, MODEL_FILES)
                    model = core.read_model(str(directory / "model.xml"))
                log.info("detector: OpenVINO image side for %dx%d from %s", *size, directory)
            except Exception as exc:
                log.warning("detector: rebuilding the OpenVINO cache %s (%s)", directory, exc)
                shutil.rmtree(directory, ignore_errors=True)
                model = None
        if model is None:
            model = self._convert(ov, size, pixel_values, pixel_mask, text)
            save_openvino(ov, model, directory)
        return model

    def _convert(
        self,
        ov: Any,
        size: tuple[int, int],
        pixel_values: torch.Tensor,
        pixel_mask: torch.Tensor,
        text: TextSide,
    ) -> Any:
        log.warning("detector: %s (input %dx%d)", CONVERT_MESSAGE, *size)
        started = time.perf_counter()
        height, width = size
        width_d = int(text.features.shape[-1])
        example = (
            pixel_values[:1].cpu(),
            pixel_mask[:1].to(torch.int64).cpu(),
            *(t.cpu() for t in text.expand(1)),
        )
        shapes = [
            ov.PartialShape([-1, 3, height, width]),
            ov.PartialShape([-1, height, width]),
            ov.PartialShape([-1, -1, width_d]),
            ov.PartialShape([-1, -1]),
            ov.PartialShape([-1, -1, width_d]),
            ov.PartialShape([-1, 1, -1, -1]),
        ]
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape checks
            model = dependency_guards.convert_quietly(
                self.image_side, example_input=example, input=shapes
            )
        self.conversions += 1
        log.warning("detector: converted in %.1f s", time.perf_counter() - started)
        return model


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"


def save_openvino(ov: Any, model: Any, directory: Path) -> None:
    """Write an OpenVINO model (model.xml/.bin) as a checked cache entry, atomically."""

    def fill(temporary: Path) -> None:
        ov.save_model(model, str(temporary / "model.xml"), compress_to_fp16=False)

    graph_cache.write_checked_entry(directory, MODEL_FILES, fill)
