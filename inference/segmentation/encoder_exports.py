"""The exported encoder runtimes: OpenVINO (f32, and bf16 only when its masks agree with f32's)
and ONNX Runtime, each exported once and cached (`inference.segmentation.encoder_build`)."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from inference.core import dependency_guards
from inference.detection.runtime import MODEL_FILES, save_openvino
from inference.graphs import cache as graph_cache
from inference.segmentation.encoder_build import (
    ONNX_FILE,
    ONNX_OPSET,
    BuildContext,
    Built,
    EncoderRuntimeError,
    cached_graph,
    example_input,
    require,
)
from inference.segmentation.segmenter import EncoderRuntime, ImageEmbedding, Segmenter

log = logging.getLogger(__name__)

BF16_MIN_IOU = 0.98

# -- OpenVINO -------------------------------------------------------------------------------


class OpenVinoEncoder:
    """A compiled OpenVINO model with a static (1, 3, S, S) input, run image by image.

    One infer request behind a lock: calls from several threads are serialised.
    """

    def __init__(self, compiled: Any, precision: str) -> None:
        self.compiled = compiled
        self.precision = precision
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float32 → (B, 256, S/16, S/16) float32 on the input's device."""
        pixels = images.detach().to("cpu", torch.float32).contiguous().numpy()
        outputs = []
        with self._lock:
            for i in range(len(pixels)):
                self._request.infer({0: pixels[i : i + 1]})
                outputs.append(np.array(self._request.get_output_tensor(0).data, copy=True))
        return torch.from_numpy(np.concatenate(outputs)).to(images.device)


def export_openvino(module: nn.Module, example: torch.Tensor) -> Any:
    """The encoder as an `openvino.Model` with a static (1, 3, S, S) input."""

    ov = require("openvino", "openvino")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape checks and len(x)
        return dependency_guards.convert_quietly(
            module, example_input=example, input=[ov.PartialShape(list(example.shape))]
        )


def openvino_model(context: BuildContext) -> tuple[Any, bool]:
    """(openvino.Model, exported) for the context's encoder, from the cache when it holds it."""
    ov = require("openvino", "openvino")

    def load(directory: Path) -> Any:
        graph_cache.verify_entry(directory, MODEL_FILES)
        return ov.Core().read_model(str(directory / "model.xml"))

    def export(directory: Path) -> None:
        model = export_openvino(context.module, example_input(context))
        save_openvino(ov, model, directory)

    return cached_graph(context, "openvino", load, export)


def compile_openvino(model: Any, precision: str) -> OpenVinoEncoder:
    """Compile for the CPU with precision "f32" or "bf16" and torch's thread count."""
    ov = require("openvino", "openvino")
    threads = max(1, torch.get_num_threads())
    compiled = ov.Core().compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads}
    )
    return OpenVinoEncoder(compiled, precision)


def openvino_cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 on this machine (AVX-512 bf16, AMX)."""
    ov = require("openvino", "openvino-bf16")
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def check_cpu(context: BuildContext, runtime: str) -> None:
    if context.segmenter.device.type != "cpu":
        raise EncoderRuntimeError(
            f"segmenter runtime {runtime!r} runs on the CPU only; the segmenter is on "
            f"{context.segmenter.device}"
        )


def build_openvino(context: BuildContext) -> Built:
    check_cpu(context, "openvino")
    model, exported = openvino_model(context)
    return Built(compile_openvino(model, "f32"), exported=exported)


def build_openvino_bf16(context: BuildContext) -> Built:
    """bf16 only if its box-prompted masks agree with f32's (see `masks_agree`)."""
    check_cpu(context, "openvino-bf16")
    model, exported = openvino_model(context)
    f32 = compile_openvino(model, "f32")
    if not context.has_bf16():
        note = "openvino-bf16: this CPU has no bf16 support; using openvino f32"
        log.warning("segmenter: %s", note)
        return Built(f32, exported=exported, runtime="openvino", note=note)
    bf16 = compile_openvino(model, "bf16")
    worst = masks_agree(context.segmenter, f32, bf16)
    if worst < BF16_MIN_IOU:
        note = (
            f"openvino-bf16 masks differ from f32 (lowest IoU {worst:.3f} < {BF16_MIN_IOU}): "
            "using openvino f32"
        )
        log.warning("segmenter: %s", note)
        return Built(f32, exported=exported, runtime="openvino", note=note)
    log.info("segmenter: openvino-bf16 masks agree with f32 (lowest IoU %.3f)", worst)
    return Built(bf16, exported=exported)


# -- ONNX Runtime ---------------------------------------------------------------------------


class OnnxRuntimeEncoder:
    """An ONNX Runtime CPU session over a static (1, 3, S, S) graph, run image by image."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._input = session.get_inputs()[0].name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float32 → (B, 256, S/16, S/16) float32 on the input's device."""
        pixels = images.detach().to("cpu", torch.float32).contiguous().numpy()
        outputs = [
            self.session.run(None, {self._input: pixels[i : i + 1]})[0] for i in range(len(pixels))
        ]
        return torch.from_numpy(np.concatenate(outputs)).to(images.device)


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write the encoder to `path` as ONNX (opset 17, input "image" (1, 3, S, S), output
    "embedding" (1, 256, S/16, S/16)) with torch's TorchScript-based exporter."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter deprecation warnings
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["image"],
            output_names=["embedding"],
        )


def save_onnx(context: BuildContext, directory: Path) -> None:
    """Export to a temporary directory with a meta.json of sha256s, then rename into place
    (`graph_cache.write_entry`, which then keeps the cache under its size bound).

    Needs the `onnx` package (a cached graph loads without it); checked before anything is
    written so that a missing package leaves the cache untouched."""
    require("onnx", "onnxruntime")

    def fill(temporary: Path) -> None:
        export_onnx(context.module, example_input(context), temporary / ONNX_FILE)

    graph_cache.write_checked_entry(directory, (ONNX_FILE,), fill)


def build_onnxruntime(context: BuildContext) -> Built:
    check_cpu(context, "onnxruntime")
    ort = require("onnxruntime", "onnxruntime")

    def load(directory: Path) -> Any:
        path = directory / ONNX_FILE
        graph_cache.verify_entry(directory, (ONNX_FILE,))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    session, exported = cached_graph(context, "onnxruntime", load, lambda d: save_onnx(context, d))
    return Built(OnnxRuntimeEncoder(session), exported=exported)


# -- bf16 mask check ------------------------------------------------------------------------


def check_photos() -> list[npt.NDArray[np.uint8]]:
    """scikit-image's chelsea (300×451) and coffee (400×600) RGB photos."""
    from skimage import data

    return [np.asarray(data.chelsea(), np.uint8), np.asarray(data.coffee(), np.uint8)]


def check_boxes(height: int, width: int) -> npt.NDArray[np.float32]:
    """(4, 4) xyxy box prompts: the centre half, the left and right halves, the whole frame."""
    h, w = float(height), float(width)
    return np.array(
        [
            [w / 4, h / 4, 3 * w / 4, 3 * h / 4],
            [0, 0, w / 2, h],
            [w / 2, 0, w, h],
            [0, 0, w, h],
        ],
        dtype=np.float32,
    )


def mask_iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    """IoU of two boolean masks (H, W); two empty masks agree fully (1.0)."""
    union = int(np.logical_or(a, b).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(a, b).sum()) / union


def masks_agree(
    segmenter: Segmenter, reference: EncoderRuntime, candidate: EncoderRuntime
) -> float:
    """Lowest IoU between box-prompted masks decoded from `reference` and `candidate`
    embeddings of the check photos (`check_photos`, `check_boxes`)."""
    worst = 1.0
    for photo in check_photos():
        pixels = segmenter.prepare([photo])  # (1, 3, S, S)
        boxes = check_boxes(photo.shape[0], photo.shape[1])
        masks = []
        for encoder in (reference, candidate):
            with torch.inference_mode():
                features = encoder(pixels)[0]
            embedding = ImageEmbedding(
                features=features.to(segmenter.device),
                frame_size=(photo.shape[0], photo.shape[1]),
                input_size=segmenter.input_size_for(photo.shape[:2]),
            )
            masks.append(segmenter.predict(boxes=boxes, embedding=embedding).masks)
        for a, b in zip(masks[0], masks[1], strict=True):
            worst = min(worst, mask_iou(a, b))
    return worst
