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

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from inference.choices import ENCODER_RUNTIMES
from inference.core.directories import default_cache_dir
from inference.graphs.background_builds import start_build
from inference.segmentation.encoder_build import (
    BuildContext,
    Built,
    EncoderBuild,
    EncoderRuntimeError,
    Progress,
    build_torch,
    first_line,
    importable,
)
from inference.segmentation.encoder_exports import (
    build_onnxruntime,
    build_openvino,
    build_openvino_bf16,
    openvino_cpu_has_bf16,
)
from inference.segmentation.segmenter import Segmenter

log = logging.getLogger(__name__)

RUNTIMES = ENCODER_RUNTIMES
"""Names accepted by `build_encoder` and `--runtime`."""
AUTO_ORDER_CPU = ("openvino", "onnxruntime", "torch")
# -- registry -------------------------------------------------------------------------------


def check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise EncoderRuntimeError(
            f"segmenter runtime must be one of {', '.join(RUNTIMES)}; got {name!r}"
        )
    return name


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


BUILDERS: dict[str, Callable[[BuildContext], Built]] = {
    "torch": build_torch,
    "openvino": build_openvino,
    "onnxruntime": build_onnxruntime,
    "openvino-bf16": build_openvino_bf16,
}
