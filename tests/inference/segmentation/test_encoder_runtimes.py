"""MobileSAM encoder runtimes: agreement with eager, the on-disk cache, missing packages, `auto`,
the bf16 mask check and the benchmark comparison. Random weights at S = 256."""

from __future__ import annotations

import copy
import importlib
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from skimage import data

from inference.bench.compare_encoder import compare_encoder_runtimes
from inference.models import load_models
from inference.segmentation import encoder_build, encoder_exports, encoder_runtimes
from inference.segmentation.encoder_build import (
    EncoderBuild,
    EncoderRuntimeError,
    cache_key,
    cache_path,
)
from inference.segmentation.encoder_exports import mask_iou, masks_agree
from inference.segmentation.encoder_runtimes import (
    build_encoder,
    resolve_runtime,
    use_runtime,
    use_runtime_in_background,
)
from inference.segmentation.segmenter import Segmenter, build_random_segmenter
from visionanything.cli import build_parser

CPU = torch.device("cpu")
SIZE = 256
TOLERANCE = 1e-3  # max abs embedding error vs eager for the f32 runtimes (measured ~1e-5)
EXPORTED = ("openvino", "onnxruntime")


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return build_random_segmenter(CPU, SIZE, seed=0)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoder_cache")


@pytest.fixture(scope="module")
def images(segmenter: Segmenter) -> torch.Tensor:
    """(2, 3, S, S): two real photos, normalised and padded as the segmenter does."""
    return segmenter.prepare([data.chelsea(), data.coffee()])


@pytest.fixture(scope="module")
def eager(segmenter: Segmenter, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return segmenter.model.image_encoder(images)


@pytest.fixture(scope="module")
def first_builds(segmenter: Segmenter, cache_dir: Path) -> dict[str, EncoderBuild]:
    """Each runtime built once into an empty cache (the exports happen here)."""
    return {
        name: build_encoder(segmenter, name, cache_dir=cache_dir) for name in ("torch", *EXPORTED)
    }


def _error(build: EncoderBuild, images: torch.Tensor, eager: torch.Tensor) -> float:
    with torch.inference_mode():
        out = build.encoder(images)
    assert out.shape == (2, 256, SIZE // 16, SIZE // 16) and out.dtype == torch.float32
    return float((out - eager).abs().max())


def _count_exports(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count calls of the two export functions (they still run)."""
    counts = {"openvino": 0, "onnxruntime": 0}
    for runtime, attribute in (("openvino", "export_openvino"), ("onnxruntime", "export_onnx")):
        original = getattr(encoder_exports, attribute)

        def counted(*args: Any, _original: Any = original, _runtime: str = runtime) -> Any:
            counts[_runtime] += 1
            return _original(*args)

        monkeypatch.setattr(encoder_exports, attribute, counted)
    return counts


@pytest.mark.parametrize("name", ["torch", *EXPORTED])
def test_runtime_matches_eager(
    first_builds: dict[str, EncoderBuild], images: torch.Tensor, eager: torch.Tensor, name: str
) -> None:
    build = first_builds[name]
    assert build.runtime == name and build.requested == name
    assert build.exported is (None if name == "torch" else True)
    error = _error(build, images, eager)  # a batch of two through batch-1 graphs
    if name == "torch":
        assert error == 0.0
    else:
        assert error < TOLERANCE


@pytest.mark.parametrize("name", EXPORTED)
def test_second_build_reuses_the_cache(
    first_builds: dict[str, EncoderBuild],
    segmenter: Segmenter,
    cache_dir: Path,
    images: torch.Tensor,
    eager: torch.Tensor,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    counts = _count_exports(monkeypatch)
    lines: list[str] = []
    again = build_encoder(segmenter, name, cache_dir=cache_dir, progress=lines.append)
    assert counts == {"openvino": 0, "onnxruntime": 0}
    assert again.exported is False and not lines
    assert _error(again, images, eager) < TOLERANCE


def test_cache_key_follows_weights_size_and_runtime(segmenter: Segmenter) -> None:
    module = segmenter.model.image_encoder
    key = cache_key(module, SIZE, "openvino")
    assert key == cache_key(copy.deepcopy(module), SIZE, "openvino")
    assert key.startswith(f"{SIZE}-")
    changed = copy.deepcopy(module)
    with torch.no_grad():
        next(changed.parameters()).view(-1)[0] += 1e-3
    assert cache_key(changed, SIZE, "openvino") != key
    assert cache_key(module, 512, "openvino") != key
    assert cache_key(module, SIZE, "onnxruntime") != key


@pytest.mark.parametrize(
    ("name", "file"), [("openvino", "model.bin"), ("onnxruntime", "encoder.onnx")]
)
def test_corrupt_cache_file_is_rebuilt(
    first_builds: dict[str, EncoderBuild],
    segmenter: Segmenter,
    cache_dir: Path,
    images: torch.Tensor,
    eager: torch.Tensor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    file: str,
) -> None:
    directory = cache_path(cache_dir, segmenter.model.image_encoder, SIZE, name)
    good = tmp_path / "good"
    shutil.copytree(directory, good)
    (directory / file).write_bytes(b"not a model")
    # The export is tested by `first_builds`; here it hands back the good graph (seconds saved).
    exports: list[str] = []

    def fake_openvino(module: Any, example: torch.Tensor) -> Any:
        exports.append("openvino")
        return importlib.import_module("openvino").Core().read_model(str(good / "model.xml"))

    def fake_onnx(module: Any, example: torch.Tensor, path: Path) -> None:
        exports.append("onnxruntime")
        shutil.copyfile(good / "encoder.onnx", path)

    monkeypatch.setattr(encoder_exports, "export_openvino", fake_openvino)
    monkeypatch.setattr(encoder_exports, "export_onnx", fake_onnx)
    lines: list[str] = []
    rebuilt = build_encoder(segmenter, name, cache_dir=cache_dir, progress=lines.append)
    assert exports == [name] and rebuilt.exported is True
    assert "first run only" in lines[0] and "done in" in lines[1]
    assert _error(rebuilt, images, eager) < TOLERANCE
    assert (directory / file).read_bytes() == (good / file).read_bytes()
    assert not [p for p in directory.parent.iterdir() if p.name.startswith(".")]  # no temp dirs


@pytest.mark.parametrize("name", EXPORTED)
def test_missing_package_says_what_to_install(
    segmenter: Segmenter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    real_import = importlib.import_module

    def fake_import(module: str, package: str | None = None) -> Any:
        if module.split(".")[0] == name:
            raise ModuleNotFoundError(f"No module named {module!r}")
        return real_import(module, package)

    monkeypatch.setattr(encoder_build.importlib, "import_module", fake_import)
    with pytest.raises(EncoderRuntimeError, match=f"pip install {name}"):
        build_encoder(segmenter, name, cache_dir=tmp_path)
    assert name not in resolve_runtime("auto", CPU)
    assert not list(tmp_path.iterdir())


def test_exporting_for_onnxruntime_without_the_onnx_package_says_what_to_install(
    segmenter: Segmenter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's exporter writes the graph with the `onnx` package; onnxruntime alone only runs it."""
    real_import = importlib.import_module

    def fake_import(module: str, package: str | None = None) -> Any:
        if module.split(".")[0] == "onnx":
            raise ModuleNotFoundError(f"No module named {module!r}")
        return real_import(module, package)

    monkeypatch.setattr(encoder_build.importlib, "import_module", fake_import)
    with pytest.raises(EncoderRuntimeError, match=r"needs the onnx package.*`pip install onnx`"):
        build_encoder(segmenter, "onnxruntime", cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.onnx"))


def test_auto_picks_openvino_then_onnxruntime_then_torch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def only(*present: str) -> Callable[[str], bool]:
        return lambda module: module in present

    monkeypatch.setattr(encoder_runtimes, "importable", only("openvino", "onnxruntime"))
    assert resolve_runtime("auto", CPU) == ["openvino", "onnxruntime", "torch"]
    assert resolve_runtime("auto", torch.device("cuda")) == ["torch"]
    monkeypatch.setattr(encoder_runtimes, "importable", only("onnxruntime"))
    assert resolve_runtime("auto", CPU) == ["onnxruntime", "torch"]
    monkeypatch.setattr(encoder_runtimes, "importable", only())
    assert resolve_runtime("auto", CPU) == ["torch"]
    assert resolve_runtime("onnxruntime", CPU) == ["onnxruntime"]
    with pytest.raises(EncoderRuntimeError, match="CPU only"):
        resolve_runtime("openvino", torch.device("cuda"))
    with pytest.raises(EncoderRuntimeError, match="must be one of"):
        resolve_runtime("tensorrt", CPU)


def test_auto_builds_openvino_and_falls_back_when_a_build_fails(
    first_builds: dict[str, EncoderBuild],
    segmenter: Segmenter,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auto = build_encoder(segmenter, "auto", cache_dir=cache_dir)
    assert (auto.requested, auto.runtime, auto.exported, auto.note) == (
        "auto",
        "openvino",
        False,
        None,
    )

    def broken(context: Any) -> Any:
        raise RuntimeError("conversion failed")

    monkeypatch.setitem(encoder_runtimes.BUILDERS, "openvino", broken)
    fallback = build_encoder(segmenter, "auto", cache_dir=cache_dir)
    assert fallback.runtime == "onnxruntime"
    assert fallback.note is not None and "conversion failed" in fallback.note
    with pytest.raises(RuntimeError, match="conversion failed"):
        build_encoder(segmenter, "openvino", cache_dir=cache_dir)


def test_mask_iou() -> None:
    empty = np.zeros((4, 4), bool)
    left, right = empty.copy(), empty.copy()
    left[:, :2] = True
    right[:, 1:3] = True
    assert mask_iou(empty, empty) == 1.0
    assert mask_iou(left, empty) == 0.0
    assert mask_iou(left, right) == pytest.approx(1 / 3)


def test_masks_agree_with_themselves(segmenter: Segmenter) -> None:
    assert masks_agree(segmenter, segmenter.encoder, segmenter.encoder) == 1.0


@pytest.mark.parametrize(("iou", "expected"), [(0.5, "openvino"), (1.0, "openvino-bf16")])
def test_bf16_only_when_its_masks_agree(
    first_builds: dict[str, EncoderBuild],
    segmenter: Segmenter,
    cache_dir: Path,
    images: torch.Tensor,
    eager: torch.Tensor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    iou: float,
    expected: str,
) -> None:
    """The branch of a CPU with bf16, on any CPU: the probe says yes; where this CPU has no
    bf16, the "bf16" compile is an f32 one (same graph, so the mask check still runs on it)."""
    calls: list[int] = []
    precisions = _record_precisions(monkeypatch)

    def fake_iou(a: np.ndarray, b: np.ndarray) -> float:
        calls.append(1)
        return iou

    monkeypatch.setattr(encoder_exports, "mask_iou", fake_iou)
    with caplog.at_level(logging.WARNING, logger="inference.segmentation.encoder_runtimes"):
        build = build_encoder(
            segmenter, "openvino-bf16", cache_dir=cache_dir, has_bf16=lambda: True
        )
    assert precisions == ["f32", "bf16"]  # both compiled, f32 first as the fallback
    assert len(calls) == 8  # 4 boxes on each of the 2 photos
    assert build.requested == "openvino-bf16" and build.runtime == expected
    assert build.exported is False  # the same converted graph as f32
    if expected == "openvino":
        assert build.note is not None and "IoU 0.500" in build.note
        assert "using openvino f32" in caplog.text
        assert _error(build, images, eager) < TOLERANCE
    else:
        assert build.note is None


def test_bf16_on_a_cpu_without_bf16_runs_f32(
    first_builds: dict[str, EncoderBuild],
    segmenter: Segmenter,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    precisions = _record_precisions(monkeypatch)
    monkeypatch.setattr(encoder_exports, "masks_agree", _never_called)
    build = build_encoder(segmenter, "openvino-bf16", cache_dir=cache_dir, has_bf16=lambda: False)
    assert precisions == ["f32"]  # bf16 is never compiled
    assert build.runtime == "openvino"
    assert build.note is not None and "no bf16" in build.note


def test_the_bf16_probe_asks_openvino_about_this_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """`openvino_cpu_has_bf16` reads the CPU plugin's capabilities (the default probe)."""
    openvino = importlib.import_module("openvino")
    for capabilities, expected in ((["FP32", "INT8"], False), (["FP32", "BF16", "INT8"], True)):

        def fake(self: Any, *args: Any, _answer: list[str] = capabilities) -> Any:
            assert args == ("CPU", "OPTIMIZATION_CAPABILITIES")
            return _answer

        monkeypatch.setattr(openvino.Core, "get_property", fake)
        assert encoder_exports.openvino_cpu_has_bf16() is expected
    monkeypatch.undo()
    assert isinstance(encoder_exports.openvino_cpu_has_bf16(), bool)  # the real plugin answers


def _record_precisions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the precision of every OpenVINO compile; "bf16" compiles as f32 on a CPU that
    has no bf16, so a test of the bf16 branch runs the same on every machine."""
    precisions: list[str] = []
    real_compile = encoder_exports.compile_openvino
    real_bf16 = encoder_exports.openvino_cpu_has_bf16()

    def compile_recorded(model: Any, precision: str) -> Any:
        precisions.append(precision)
        return real_compile(model, precision if precision != "bf16" or real_bf16 else "f32")

    monkeypatch.setattr(encoder_exports, "compile_openvino", compile_recorded)
    return precisions


def _never_called(*args: Any) -> float:
    raise AssertionError("masks_agree should not run")


def test_segmenter_set_runtime_and_describe(cache_dir: Path, first_builds: Any) -> None:
    segmenter = build_random_segmenter(CPU, SIZE, seed=0)  # same weights: the cache applies
    assert segmenter.describe()["runtime"] == "torch"
    frame = data.chelsea()
    before = segmenter.set_image(frame).features
    assert use_runtime(segmenter, "onnxruntime", cache_dir=cache_dir) == "onnxruntime"
    assert segmenter.describe()["runtime"] == "onnxruntime"
    after = segmenter.set_image(frame).features  # the cached embedding was dropped
    assert float((after - before).abs().max()) < TOLERANCE
    masks = segmenter.predict(boxes=[[50, 20, 300, 280]]).masks
    assert masks.shape == (1, 300, 451)


def test_commands_default_to_auto_and_load_models_checks_the_name() -> None:
    parser = build_parser()
    assert parser.parse_args(["segment", "x.png", "--find", "cat", "--out", "o"]).runtime == "auto"
    assert parser.parse_args(["serve", "--runtime", "onnxruntime"]).runtime == "onnxruntime"
    assert parser.parse_args(["bench", "--runtime", "openvino-bf16"]).runtime == "openvino-bf16"
    with pytest.raises(ValueError, match="must be one of"):
        load_models("random", CPU, runtime="tensorrt")


def test_compare_encoder_runtimes_reports_failures(
    first_builds: dict[str, EncoderBuild],
    segmenter: Segmenter,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(context: Any) -> Any:
        raise RuntimeError("no such device")

    monkeypatch.setitem(encoder_runtimes.BUILDERS, "openvino", broken)
    lines: list[str] = []
    rows = compare_encoder_runtimes(
        segmenter, ["torch", "onnxruntime", "openvino"], 2, lines.append, cache_dir=cache_dir
    )
    assert [row.runtime for row in rows] == ["torch", "onnxruntime", "openvino"]
    torch_row, onnx_row, failed = rows
    assert torch_row.error is None and torch_row.max_abs_error_vs_eager == 0.0
    assert onnx_row.error is None and onnx_row.resolved == "onnxruntime"
    assert onnx_row.max_abs_error_vs_eager is not None
    assert onnx_row.max_abs_error_vs_eager < TOLERANCE
    assert onnx_row.exported is False and onnx_row.build_s is not None
    for row in (torch_row, onnx_row):
        assert row.median_ms is not None and row.min_ms is not None
        assert 0 < row.min_ms <= row.median_ms
    assert failed.error == "RuntimeError: no such device" and failed.median_ms is None
    assert any("openvino FAILED" in line for line in lines)
    assert segmenter.runtime == "torch"  # the comparison leaves the segmenter as it was


def test_a_runtime_built_in_the_background_is_swapped_in_without_a_wait(
    first_builds: dict[str, EncoderBuild],
    cache_dir: Path,
    images: torch.Tensor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """serve's start: eager torch answers while the build is held; then the built runtime takes
    over and gives the same embedding within tolerance."""
    segmenter = build_random_segmenter(CPU, SIZE, seed=0)  # same weights: the cache applies
    release = threading.Event()
    real_build = encoder_runtimes.build_encoder

    def held_build(*args: Any, **kwargs: Any) -> EncoderBuild:
        assert release.wait(60), "a frame waited for the build"
        return real_build(*args, **kwargs)

    monkeypatch.setattr(encoder_runtimes, "build_encoder", held_build)
    frame = data.chelsea()
    thread = use_runtime_in_background(segmenter, "onnxruntime", cache_dir=cache_dir)
    (before,) = segmenter.embed([frame])  # answered on torch while the build is held
    assert segmenter.runtime == "torch" and thread.is_alive()
    release.set()
    thread.join(120)
    assert not thread.is_alive() and segmenter.runtime == "onnxruntime"
    assert segmenter.encoder is not segmenter.model.image_encoder
    (after,) = segmenter.embed([frame])
    assert float((after.features - before.features).abs().max()) < TOLERANCE


def test_a_background_build_that_fails_keeps_the_encoder(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    segmenter = build_random_segmenter(CPU, SIZE, seed=0)

    def broken(context: Any) -> Any:
        raise RuntimeError("conversion failed")

    monkeypatch.setitem(encoder_runtimes.BUILDERS, "openvino", broken)
    with caplog.at_level(logging.WARNING):
        use_runtime_in_background(segmenter, "openvino", cache_dir=tmp_path).join(60)
    assert segmenter.runtime == "torch" and segmenter.encoder is segmenter.model.image_encoder
    assert "could not be built" in caplog.text and "conversion failed" in caplog.text
