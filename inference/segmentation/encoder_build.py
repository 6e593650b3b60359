"""What the encoder runtimes share: the build context, the exported-graph cache entries (key,
path, load or export), the packages they need, and the eager torch runtime.
`inference.segmentation.encoder_runtimes` chooses and builds; `encoder_exports` holds the
OpenVINO and ONNX Runtime builders."""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.detection.runtime import openvino_version
from inference.graphs import cache as graph_cache
from inference.graphs.keys import entry_key, weights_sha256
from inference.segmentation.segmenter import EncoderRuntime, Segmenter

log = logging.getLogger(__name__)

CACHE_SUBDIR = graph_cache.ENCODER_SUBDIR
ONNX_OPSET = 17
CACHE_FORMAT = 1  # bump when the exported graph's inputs, outputs or export settings change
ONNX_FILE = "encoder.onnx"
# module → pip name; "onnx" is what torch's exporter needs to write the graph (torch 2.14
# raises "Module onnx is not installed!" without it), onnxruntime only runs it
PACKAGES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "onnx": "onnx"}
LABELS = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}

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
    has_bf16: Callable[[], bool]
    fp16: bool = False

    @property
    def module(self) -> nn.Module:
        encoder: nn.Module = self.segmenter.model.image_encoder
        return encoder

    @property
    def image_size(self) -> int:
        return int(self.segmenter.image_size)


@dataclass
class Built:
    encoder: EncoderRuntime
    exported: bool | None = None
    runtime: str | None = None  # set when the builder settled on another runtime (bf16 → f32)
    note: str | None = None


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


def build_torch(context: BuildContext) -> Built:
    if context.fp16 and context.segmenter.device.type != "cuda":
        log.warning("segmenter: fp16 autocast applies on CUDA only; running float32")
    return Built(TorchEncoder(context.module, fp16=context.fp16), exported=None)


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
        "format": CACHE_FORMAT,
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


def example_input(context: BuildContext) -> torch.Tensor:
    """(1, 3, S, S) float32 on the CPU: the trace input (values do not matter)."""
    generator = torch.Generator().manual_seed(0)
    size = context.image_size
    return torch.randn((1, 3, size, size), generator=generator)


def cached_graph(
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
            log.info("segmenter: %s encoder from the cache %s", LABELS[runtime], directory)
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
        f"exporting MobileSAM encoder {context.image_size} to {LABELS[runtime]} (first run only)…"
    )
    export(directory)
    context.progress(
        f"exporting MobileSAM encoder {context.image_size} to {LABELS[runtime]}… done in "
        f"{time.perf_counter() - started:.0f} s ({directory})"
    )
    with graph_cache.reading(directory):
        return load(directory), True


def importable(module: str) -> bool:
    """Whether `module` imports (its package installed and loadable)."""
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True


def require(module: str, runtime: str) -> Any:
    """Import `module` or raise an `EncoderRuntimeError` that says what to install."""
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise EncoderRuntimeError(
            f"segmenter runtime {runtime!r} needs the {module} package, which does not import "
            f"here ({type(exc).__name__}: {exc}): `pip install {PACKAGES[module]}`, or use "
            "--runtime torch"
        ) from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


"""One builder per concrete runtime ("auto" chooses among them in `build_encoder`)."""
