"""Segmenter: MobileSAM at 512 and 1024, box and point prompts, caching, checkpoint loading."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from inference.core.detections import Detections
from inference.segmentation.mobile_sam_model import build_mobile_sam_vit_t
from inference.segmentation.segmenter import (
    ImageEmbedding,
    Segmenter,
    build_random_segmenter,
    load_segmenter,
)
from inference.weights.checkpoints import CheckpointError, Manifest, sha256_of

CPU = torch.device("cpu")


@pytest.fixture(scope="module", params=[512, 1024])
def segmenter(request: pytest.FixtureRequest) -> Segmenter:
    return build_random_segmenter(CPU, request.param, seed=0)


@pytest.fixture(scope="module")
def segmenter_512() -> Segmenter:
    return build_random_segmenter(CPU, 512, seed=0)


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    return data.chelsea()  # (300, 451, 3) RGB


def test_box_prompts_give_masks_at_frame_size(segmenter: Segmenter, cat: np.ndarray) -> None:
    segmenter.set_image(cat)
    boxes = np.array([[50, 20, 300, 280], [0, 0, 451, 300], [400, 250, 450, 299]], np.float32)
    prediction = segmenter.predict(boxes=boxes)
    assert prediction.masks.shape == (3, 300, 451)
    assert prediction.masks.dtype == np.bool_
    assert prediction.scores.shape == (3,)
    assert segmenter.describe()["weights"] == "random"


def test_point_prompts_give_masks_at_frame_size(segmenter: Segmenter, cat: np.ndarray) -> None:
    segmenter.set_image(cat)
    one_point_each = segmenter.predict(points=np.array([[100, 150], [400, 50]]))
    assert one_point_each.masks.shape == (2, 300, 451)
    several = segmenter.predict(
        points=np.array([[[100, 150], [120, 160], [300, 40]]]), point_labels=np.array([[1, 1, 0]])
    )
    assert several.masks.shape == (1, 300, 451)
    combined = segmenter.predict(boxes=np.array([[50, 20, 300, 280]]), points=[[[100, 150]]])
    assert combined.masks.shape == (1, 300, 451)


def test_segment_fills_masks_into_detections(segmenter_512: Segmenter, cat: np.ndarray) -> None:
    detections = Detections(np.array([[50, 20, 300, 280]]), np.array([0.9]), ("cat",))
    embedding = segmenter_512.embed([cat])[0]
    segmented = segmenter_512.segment(detections, embedding=embedding)
    assert segmented.masks is not None and segmented.masks.shape == (1, 300, 451)
    assert segmented.labels == ("cat",)


def test_no_prompts_at_all_is_an_error_and_zero_prompts_is_empty(
    segmenter_512: Segmenter, cat: np.ndarray
) -> None:
    segmenter_512.set_image(cat)
    with pytest.raises(ValueError, match="give box prompts"):
        segmenter_512.predict()
    empty = segmenter_512.predict(boxes=np.zeros((0, 4)))
    assert empty.masks.shape == (0, 300, 451)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boxes": [[1, 2, 3]]}, "boxes must be"),
        ({"boxes": [[1, 2, np.nan, 4]]}, "boxes must be"),
        ({"points": [[[1, 2, 3]]]}, "points must be"),
        ({"points": [[1, 2]], "point_labels": [[7]]}, "point labels"),
        ({"boxes": [[1, 2, 3, 4]], "points": [[1, 2], [3, 4]]}, "1 boxes but 2 point prompts"),
    ],
)
def test_bad_prompts_are_clear_errors(
    segmenter_512: Segmenter, cat: np.ndarray, kwargs: dict[str, object], message: str
) -> None:
    segmenter_512.set_image(cat)
    with pytest.raises(ValueError, match=message):
        segmenter_512.predict(**kwargs)  # type: ignore[arg-type]


def test_predict_before_set_image_is_an_error() -> None:
    fresh = Segmenter(build_mobile_sam_vit_t(512), CPU, weights="random")
    with pytest.raises(RuntimeError, match="no image set"):
        fresh.predict(boxes=[[0, 0, 5, 5]])


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
    ],
)
def test_bad_frames_are_rejected(segmenter_512: Segmenter, frame: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frame must"):
        segmenter_512.set_image(frame)


@pytest.mark.parametrize("size", [0, 100, 500, 4096, 513])
def test_unsupported_sizes_are_rejected(size: int) -> None:
    with pytest.raises(ValueError, match="not supported"):
        build_random_segmenter(CPU, size)


def test_embedding_cache_reuses_the_encoder_output(cat: np.ndarray) -> None:
    segmenter = build_random_segmenter(CPU, 512)
    calls: list[tuple[int, ...]] = []
    encoder = segmenter.encoder

    def counting(batch: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(batch.shape))
        return encoder(batch)

    segmenter.encoder = counting
    first = segmenter.set_image(cat, key="frame-1")
    again = segmenter.set_image(cat, key="frame-1")
    assert again is first and len(calls) == 1
    segmenter.set_image(cat, key="frame-2")
    segmenter.set_image(cat)  # no key: never cached
    assert len(calls) == 3


def test_batched_embedding_equals_one_by_one(segmenter_512: Segmenter, cat: np.ndarray) -> None:
    coffee = data.coffee()[::2, ::2]  # (200, 300, 3): a different size in the same batch
    batched = segmenter_512.embed([cat, coffee])
    single = [segmenter_512.embed([frame])[0] for frame in (cat, coffee)]
    for together, alone in zip(batched, single, strict=True):
        assert together.frame_size == alone.frame_size
        torch.testing.assert_close(together.features, alone.features, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("size", "frame_size"), [(512, (300, 451)), (1024, (480, 640))])
def test_masks_land_where_the_low_res_logits_are(size: int, frame_size: tuple[int, int]) -> None:
    """Geometry of the upscaling: a blob in the low-res grid maps to the same frame region."""
    segmenter = Segmenter(build_mobile_sam_vit_t(size), CPU, weights="random")
    height, width = frame_size
    input_size = segmenter.input_size_for(frame_size)
    embedding = ImageEmbedding(torch.zeros(256, size // 16, size // 16), frame_size, input_size)
    grid = size // 4
    low_res = torch.full((1, 1, grid, grid), -10.0)
    # a block covering the middle third of the (unpadded) input region, in low-res cells
    h_cells, w_cells = input_size[0] * grid / size, input_size[1] * grid / size
    low_res[
        ..., int(h_cells / 3) : int(2 * h_cells / 3), int(w_cells / 3) : int(2 * w_cells / 3)
    ] = 10.0
    mask = (segmenter._upscale(low_res, embedding) > 0)[0, 0].numpy()
    ys, xs = np.nonzero(mask)
    assert (
        abs(ys.min() - height / 3) < height * 0.03
        and abs(ys.max() - 2 * height / 3) < height * 0.03
    )
    assert abs(xs.min() - width / 3) < width * 0.03 and abs(xs.max() - 2 * width / 3) < width * 0.03


# -- loading checkpoints through the real loading code ---------------------------------------


def _write_manifest(
    folder: Path, file: Path, *, sha256: str | None = None, size: int | None = None
) -> Manifest:
    entry = {
        "group": "mobile_sam",
        "file": file.name,
        "url": "http://127.0.0.1:9/mobile_sam.pt",
        "revision": "test",
        "size": size if size is not None else file.stat().st_size,
        "sha256": sha256 or sha256_of(file),
    }
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"files": [entry]}))
    return Manifest.load(manifest)


@pytest.fixture(scope="module")
def checkpoint_1024(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(123)
    state = build_mobile_sam_vit_t(1024).state_dict()
    path = tmp_path_factory.mktemp("weights") / "mobile_sam.pt"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("size", [512, 1024])
def test_load_segmenter_from_a_written_checkpoint(
    checkpoint_1024: tuple[Path, dict[str, torch.Tensor]], size: int, cat: np.ndarray
) -> None:
    path, state = checkpoint_1024
    manifest = _write_manifest(path.parent, path)
    segmenter = load_segmenter(manifest, CPU, size)
    assert segmenter.describe()["weights"] == "checkpoint"
    for name, tensor in segmenter.model.state_dict().items():
        torch.testing.assert_close(tensor, state[name])
    segmenter.set_image(cat)
    assert segmenter.predict(boxes=[[10, 10, 200, 200]]).masks.shape == (1, 300, 451)


CorruptWriter = Callable[[Path, bytes], None]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "truncated"),
        ("wrong_hash", "corrupt"),
        ("missing", "missing"),
        ("garbage_with_matching_hash", "cannot read checkpoint"),
        ("wrong_architecture", "does not fit MobileSAM"),
    ],
)
def test_damaged_checkpoints_fail_with_one_clear_message(
    tmp_path: Path, checkpoint_1024: tuple[Path, dict[str, torch.Tensor]], damage: str, message: str
) -> None:
    good, _ = checkpoint_1024
    blob = good.read_bytes()
    target = tmp_path / "mobile_sam.pt"
    if damage == "truncated":
        target.write_bytes(blob[: len(blob) // 2])
        manifest = _write_manifest(tmp_path, target, sha256=sha256_of(good), size=len(blob))
    elif damage == "wrong_hash":
        target.write_bytes(blob)
        manifest = _write_manifest(tmp_path, target, sha256="0" * 64)
    elif damage == "missing":
        target.write_bytes(blob)
        manifest = _write_manifest(tmp_path, target)
        target.unlink()
    elif damage == "garbage_with_matching_hash":
        target.write_bytes(b"not a torch file at all" * 100)
        manifest = _write_manifest(tmp_path, target)
    else:
        torch.save({"weight": torch.zeros(3)}, target)
        manifest = _write_manifest(tmp_path, target)
    with pytest.raises(CheckpointError) as caught:
        load_segmenter(manifest, CPU, 512)
    text = str(caught.value)
    assert message in text
    assert "mobile_sam.pt" in text
    assert "visionanything weights fetch" in text
