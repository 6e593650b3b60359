"""Pluggable runtimes for the MobileSAM image encoder, the CPU hot spot of the pipeline.

Every runtime turns the eager encoder into an `EncoderRuntime`: a callable from a normalised,
padded batch (B, 3, S, S) float32 to embeddings (B, 256, S/16, S/16) float32, torch tensors in
and out on the segmenter's device.

- "torch": the eager module (on CUDA, optionally under fp16 autocast: off by default and
  unmeasured, no GPU where this was written).
- "openvino": `openvino.convert_model`, compiled for the CPU with INFERENCE_PRECISION_HINT f32
  (its default on CPUs with bf16 support is lossy bf16) and INFERENCE_NUM_THREADS set to
  `torch.get_num_threads()`. Measured fastest exact runtime on the 2-core Zen 4 (133 ms vs eager
  343 ms at 512, max abs error 9e-6).
- "onnxruntime": `torch.onnx.export` (the TorchScript-based exporter, `dynamo=False`, opset 17)
  run by an ONNX Runtime CPU session with `intra_op_num_threads` = torch's threads (153 ms).
- "openvino-bf16": the OpenVINO graph compiled in bf16 (75 ms, max abs error ~0.09: lossy).
  Only when asked, and only if its masks agree: at build, box-prompted masks on two photos
  (scikit-image's chelsea and coffee) are decoded from f32 and bf16 embeddings; if any mask
  pair has IoU below `BF16_MIN_IOU` (0.98) a warning is logged and the f32 graph is used.
- "auto": on a CPU "openvino" when it imports, else "onnxruntime", else "torch"; on CUDA
  "torch". A runtime that fails to build is logged and the next one tried.

Graphs are exported with batch 1 (stock TinyViT's `PatchMerging` reads `B = len(x)`, which an
exporter freezes), so the exported runtimes run a batch image by image; batching does not lower
the per-image cost on a CPU anyway.

Exported graphs are cached on disk under `<cache dir>/mobile_sam_encoder/<runtime>/<key>/`
(cache dir: the `cache_dir` argument, else `default_cache_dir()`: `$VISIONANYTHING_CACHE_DIR`
or `~/.cache/visionanything`, shared with the detector's OpenVINO cache). The key hashes the
encoder's state dict, the image size, the runtime, its version and torch's version. Files are
written to a temporary directory and renamed into place, with their sha256 recorded; a cache
entry that fails its check or does not load is rebuilt. Least recently used graphs are
evicted past the cache's size bound (`graph_cache`, 2 GB by default).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from inference.choices import ENCODER_RUNTIMES
from inference.detection.runtime import (
    MODEL_FILES,
    default_cache_dir,
    openvino_version,
    save_openvino,
)
from inference.graphs import cache as graph_cache
from inference.graphs.background_builds import start_build
from inference.graphs.keys import entry_key, weights_sha256
from inference.segmentation.segmenter import EncoderRuntime, ImageEmbedding, Segmenter

log = logging.getLogger(__name__)

RUNTIMES = ENCODER_RUNTIMES
"""Names accepted by `build_encoder` and `--runtime`."""
AUTO_ORDER_CPU = ("openvino", "onnxruntime", "torch")
BF16_MIN_IOU = 0.98
CACHE_SUBDIR = graph_cache.ENCODER_SUBDIR
ONNX_OPSET = 17
_CACHE_FORMAT = 1  # bump when the exported graph's inputs, outputs or export settings change
_ONNX_FILE = "encoder.onnx"
# module → pip name; "onnx" is what torch's exporter needs to write the graph (torch 2.14
# raises "Module onnx is not installed!" without it), onnxruntime only runs it
_PACKAGES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "onnx": "onnx"}
_LABELS = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}

Progress = Callable[[str], None]


class EncoderRuntimeError(ValueError):
    """A runtime that cannot be used here: unknown, its package missing, or the wrong device."""


@dataclass(frozen=True)
class EncoderBuild:
    """What `build_encoder` made.

    requested: the name asked for ("auto" included); runtime: the one that runs
    encoder:   (B, 3, S, S) float32 → (B, 256, S/16, S/16) float32, torch tensors
    build_s:   seconds to build (export or cache load, compile, checks)
    exported:  True when a graph was exported (not found in the cache), None for "torch"
    note:      why `runtime` differs from what was asked, if it does
    """

    requested: str
    runtime: str
    encoder: EncoderRuntime
    build_s: float
    exported: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class BuildContext:
    """Everything a runtime builder needs.

    segmenter: its `model.image_encoder` is the eager (B, 3, S, S) → (B, 256, S/16, S/16) module
    cache_dir: root of the on-disk cache (the runtime adds `mobile_sam_encoder/<runtime>/<key>`)
    progress:  receives one line when an export starts and one when it is done
    fp16:      torch on CUDA only: run the encoder under fp16 autocast (unmeasured)
    has_bf16:  the capability probe "openvino-bf16" asks (`openvino_cpu_has_bf16`); injected
               by tests so both branches run on any CPU
    """

    segmenter: Segmenter
    cache_dir: Path
    progress: Progress
    fp16: bool = False
    has_bf16: Callable[[], bool] = field(default_factory=lambda: openvino_cpu_has_bf16)

    @property
    def module(self) -> nn.Module:
        encoder: nn.Module = self.segmenter.model.image_encoder
        return encoder

    @property
    def image_size(self) -> int:
        return int(self.segmenter.image_size)


@dataclass
class _Built:
    encoder: EncoderRuntime
    exported: bool | None = None
    runtime: str | None = None  # set when the builder settled on another runtime (bf16 → f32)
    note: str | None = None


# -- registry -------------------------------------------------------------------------------


def check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise EncoderRuntimeError(
            f"segmenter runtime must be one of {', '.join(RUNTIMES)}; got {name!r}"
        )
    return name


def importable(module: str) -> bool:
    """Whether `module` imports (its package installed and loadable)."""
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True


def _require(module: str, runtime: str) -> Any:
    """Import `module` or raise an `EncoderRuntimeError` that says what to install."""
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise EncoderRuntimeError(
            f"segmenter runtime {runtime!r} needs the {module} package, which does not import "
            f"here ({type(exc).__name__}: {exc}): `pip install {_PACKAGES[module]}`, or use "
            "--runtime torch"
        ) from exc


def resolve_runtime(name: str, device: torch.device) -> list[str]:
    """The runtimes to try in order for `name` on `device` ("auto" expands, others do not).

    Raises `EncoderRuntimeError` for an unknown name or a CPU-only runtime on another device.
    """
    check_runtime(name)
    if name == "auto":
        if device.type != "cpu":
            return ["torch"]
        found = [r for r in AUTO_ORDER_CPU if r == "torch" or importable(r)]
        return found
    if name != "torch" and device.type != "cpu":
        raise EncoderRuntimeError(
            f"segmenter runtime {name!r} runs on the CPU only; the segmenter is on {device}: "
            "use --runtime torch (or auto)"
        )
    return [name]


def build_encoder(
    segmenter: Segmenter,
    name: str = "auto",
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    fp16: bool = False,
    has_bf16: Callable[[], bool] | None = None,
) -> EncoderBuild:
    """Build the encoder runtime `name` for `segmenter` (it is not modified).

    An explicitly named runtime that cannot be built raises (`EncoderRuntimeError` when its
    package is missing or the device does not fit); "auto" logs the failure and tries the next
    runtime, ending with eager torch, which always builds. `has_bf16` replaces the CPU probe
    (`openvino_cpu_has_bf16`) that "openvino-bf16" asks.
    """
    report = progress or (lambda line: log.warning("%s", line))
    context = BuildContext(
        segmenter=segmenter,
        cache_dir=cache_dir if cache_dir is not None else default_cache_dir(),
        progress=report,
        fp16=fp16,
        has_bf16=has_bf16 or openvino_cpu_has_bf16,
    )
    candidates = resolve_runtime(name, segmenter.device)
    notes: list[str] = []
    for index, runtime in enumerate(candidates):
        started = time.perf_counter()
        try:
            built = BUILDERS[runtime](context)
        except Exception as exc:
            if name != "auto" or index == len(candidates) - 1:
                raise
            reason = f"{runtime} failed ({type(exc).__name__}: {first_line(exc)})"
            log.warning("segmenter: %s; trying %s", reason, candidates[index + 1])
            notes.append(reason)
            continue
        if built.note:
            notes.append(built.note)
        return EncoderBuild(
            requested=name,
            runtime=built.runtime or runtime,
            encoder=built.encoder,
            build_s=time.perf_counter() - started,
            exported=built.exported,
            note="; ".join(notes) or None,
        )
    raise AssertionError("unreachable: torch always builds")  # pragma: no cover


def use_runtime(
    segmenter: Segmenter,
    name: str = "auto",
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    fp16: bool = False,
) -> str:
    """Run `segmenter`'s encoder on runtime `name` ("auto", "torch", "openvino", "onnxruntime"
    or "openvino-bf16") from now on and return the one chosen.

    cache_dir: where exported graphs are kept (default `default_cache_dir()`);
    fp16: fp16 autocast for torch on CUDA (off by default, unmeasured).
    Raises `EncoderRuntimeError` (a ValueError) when a named runtime cannot be used here.
    """
    build = build_encoder(segmenter, name, cache_dir=cache_dir, progress=progress, fp16=fp16)
    _swap_in(segmenter, build)
    segmenter.reset_image()
    return build.runtime


def use_runtime_in_background(
    segmenter: Segmenter, name: str = "auto", *, cache_dir: Path | None = None
) -> threading.Thread:
    """Build runtime `name` in a background thread (`inference.graphs.background_builds`) and
    swap it into `segmenter` when it is ready; the encoder in use (eager torch at first) answers
    meanwhile, so no frame waits for an export. A build that fails is logged and the encoder
    stays. Returns the thread (join it to wait for the swap)."""

    def build() -> None:
        try:
            built = build_encoder(segmenter, name, cache_dir=cache_dir)
        except Exception as exc:
            log.warning(
                "segmenter: runtime %s could not be built (%s); staying on %s",
                name,
                exc,
                segmenter.runtime,
            )
            return
        _swap_in(segmenter, built)

    return start_build(f"encoder-build-{name}", build)


def _swap_in(segmenter: Segmenter, build: EncoderBuild) -> None:
    segmenter.use_encoder(build.encoder, build.runtime)
    log.info(
        "segmenter: encoder runtime %s (asked for %s%s, built in %.1f s)",
        build.runtime,
        build.requested,
        f"; {build.note}" if build.note else "",
        build.build_s,
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# -- torch ----------------------------------------------------------------------------------


class TorchEncoder:
    """The eager module, optionally under fp16 autocast on CUDA (output cast back to float32)."""

    def __init__(self, module: nn.Module, fp16: bool = False) -> None:
        self.module = module
        self.fp16 = fp16

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float32 → (B, 256, S/16, S/16) float32."""
        autocast = (
            torch.autocast("cuda", dtype=torch.float16)
            if self.fp16 and images.device.type == "cuda"
            else contextlib.nullcontext()
        )
        with autocast:
            out: torch.Tensor = self.module(images)
        return out.float()


def _build_torch(context: BuildContext) -> _Built:
    if context.fp16 and context.segmenter.device.type != "cuda":
        log.warning("segmenter: fp16 autocast applies on CUDA only; running float32")
    return _Built(TorchEncoder(context.module, fp16=context.fp16), exported=None)


# -- cache ----------------------------------------------------------------------------------


def runtime_version(runtime: str) -> str | None:
    """The installed version of the package behind an exported runtime, or None."""
    if runtime == "openvino":
        return openvino_version()
    try:
        return str(importlib.import_module("onnxruntime").__version__)
    except Exception:
        return None


def cache_key(module: nn.Module, image_size: int, runtime: str) -> str:
    """Directory name for the exported encoder: `<S>-<24 hex digits>`."""
    parts = {
        "format": _CACHE_FORMAT,
        "weights": weights_sha256(module),
        "image_size": int(image_size),
        "runtime": runtime,
        "runtime_version": runtime_version(runtime),
        "torch": torch.__version__,
        "opset": ONNX_OPSET if runtime == "onnxruntime" else None,
    }
    return entry_key(str(image_size), parts)


def cache_path(cache_dir: Path, module: nn.Module, image_size: int, runtime: str) -> Path:
    return cache_dir / CACHE_SUBDIR / runtime / cache_key(module, image_size, runtime)


def _example(context: BuildContext) -> torch.Tensor:
    """(1, 3, S, S) float32 on the CPU: the trace input (values do not matter)."""
    generator = torch.Generator().manual_seed(0)
    size = context.image_size
    return torch.randn((1, 3, size, size), generator=generator)


def _cached(
    context: BuildContext,
    runtime: str,
    load: Callable[[Path], Any],
    export: Callable[[Path], None],
) -> tuple[Any, bool]:
    """Load the cached graph for `runtime`, exporting it first when missing or broken.

    load(directory) → the runtime's model (raises when the files are bad);
    export(directory) writes the files to a new directory, which is then renamed into place.
    Returns (model, exported).
    """
    directory = cache_path(context.cache_dir, context.module, context.image_size, runtime)
    if directory.is_dir():
        try:
            with graph_cache.reading(directory):  # marks it used, held against eviction
                model = load(directory)
            log.info("segmenter: %s encoder from the cache %s", _LABELS[runtime], directory)
            return model, False
        except Exception as exc:
            log.warning(
                "segmenter: rebuilding the encoder cache %s (%s: %s)",
                directory,
                type(exc).__name__,
                first_line(exc),
            )
            shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    context.progress(
        f"exporting MobileSAM encoder {context.image_size} to {_LABELS[runtime]} (first run only)…"
    )
    export(directory)
    context.progress(
        f"exporting MobileSAM encoder {context.image_size} to {_LABELS[runtime]}… done in "
        f"{time.perf_counter() - started:.0f} s ({directory})"
    )
    with graph_cache.reading(directory):
        return load(directory), True


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
    from inference.core.dependency_guards import convert_quietly  # keeps our loggers working

    ov = _require("openvino", "openvino")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape checks and len(x)
        return convert_quietly(
            module, example_input=example, input=[ov.PartialShape(list(example.shape))]
        )


def _openvino_model(context: BuildContext) -> tuple[Any, bool]:
    """(openvino.Model, exported) for the context's encoder, from the cache when it holds it."""
    ov = _require("openvino", "openvino")

    def load(directory: Path) -> Any:
        graph_cache.verify_entry(directory, MODEL_FILES)
        return ov.Core().read_model(str(directory / "model.xml"))

    def export(directory: Path) -> None:
        model = export_openvino(context.module, _example(context))
        save_openvino(ov, model, directory)

    return _cached(context, "openvino", load, export)


def compile_openvino(model: Any, precision: str) -> OpenVinoEncoder:
    """Compile for the CPU with precision "f32" or "bf16" and torch's thread count."""
    ov = _require("openvino", "openvino")
    threads = max(1, torch.get_num_threads())
    compiled = ov.Core().compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads}
    )
    return OpenVinoEncoder(compiled, precision)


def openvino_cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 on this machine (AVX-512 bf16, AMX)."""
    ov = _require("openvino", "openvino-bf16")
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _check_cpu(context: BuildContext, runtime: str) -> None:
    if context.segmenter.device.type != "cpu":
        raise EncoderRuntimeError(
            f"segmenter runtime {runtime!r} runs on the CPU only; the segmenter is on "
            f"{context.segmenter.device}"
        )


def _build_openvino(context: BuildContext) -> _Built:
    _check_cpu(context, "openvino")
    model, exported = _openvino_model(context)
    return _Built(compile_openvino(model, "f32"), exported=exported)


def _build_openvino_bf16(context: BuildContext) -> _Built:
    """bf16 only if its box-prompted masks agree with f32's (see `masks_agree`)."""
    _check_cpu(context, "openvino-bf16")
    model, exported = _openvino_model(context)
    f32 = compile_openvino(model, "f32")
    if not context.has_bf16():
        note = "openvino-bf16: this CPU has no bf16 support; using openvino f32"
        log.warning("segmenter: %s", note)
        return _Built(f32, exported=exported, runtime="openvino", note=note)
    bf16 = compile_openvino(model, "bf16")
    worst = masks_agree(context.segmenter, f32, bf16)
    if worst < BF16_MIN_IOU:
        note = (
            f"openvino-bf16 masks differ from f32 (lowest IoU {worst:.3f} < {BF16_MIN_IOU}): "
            "using openvino f32"
        )
        log.warning("segmenter: %s", note)
        return _Built(f32, exported=exported, runtime="openvino", note=note)
    log.info("segmenter: openvino-bf16 masks agree with f32 (lowest IoU %.3f)", worst)
    return _Built(bf16, exported=exported)


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


def _save_onnx_atomically(context: BuildContext, directory: Path) -> None:
    """Export to a temporary directory with a meta.json of sha256s, then rename into place
    (`graph_cache.write_entry`, which then keeps the cache under its size bound).

    Needs the `onnx` package (a cached graph loads without it); checked before anything is
    written so that a missing package leaves the cache untouched."""
    _require("onnx", "onnxruntime")

    def fill(temporary: Path) -> None:
        export_onnx(context.module, _example(context), temporary / _ONNX_FILE)

    graph_cache.write_checked_entry(directory, (_ONNX_FILE,), fill)


def _build_onnxruntime(context: BuildContext) -> _Built:
    _check_cpu(context, "onnxruntime")
    ort = _require("onnxruntime", "onnxruntime")

    def load(directory: Path) -> Any:
        path = directory / _ONNX_FILE
        graph_cache.verify_entry(directory, (_ONNX_FILE,))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    session, exported = _cached(
        context, "onnxruntime", load, lambda d: _save_onnx_atomically(context, d)
    )
    return _Built(OnnxRuntimeEncoder(session), exported=exported)


BUILDERS: dict[str, Callable[[BuildContext], _Built]] = {
    "torch": _build_torch,
    "openvino": _build_openvino,
    "onnxruntime": _build_onnxruntime,
    "openvino-bf16": _build_openvino_bf16,
}
"""One builder per concrete runtime ("auto" chooses among them in `build_encoder`)."""


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
