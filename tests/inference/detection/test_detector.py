"""The Grounding DINO detector behind our interface, on tiny random models and real photos;
the MM-Grounding-DINO choice (`DetectorSettings.model`) built, saved and loaded the same way.

Random weights make the boxes meaningless, so these tests check the contract (shapes, frame
coordinates, labels, limits, errors, loading) rather than what is found. Nothing is downloaded:
models are built in memory or loaded from files written by the test.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import torch
from skimage import data
from torchvision.transforms.v2 import functional as tvF
from transformers import MMGroundingDinoForObjectDetection

from inference.core.detections import Detections
from inference.detection.detector import (
    BERT_DELIMITER_IDS,
    DELIMITER_TOKENS,
    RANDOM_WARNING,
    Detector,
    DetectorSettings,
    VocabularyTooLongError,
)
from inference.detection.loading import load_detector
from inference.detection.postprocess import postprocess
from inference.detection.random_weights import build_random_detector
from inference.labels.vocabulary import EMPTY_MESSAGE, VocabularyError
from inference.models import load_models
from inference.weights.checkpoints import FETCH_COMMAND, CheckpointError, Manifest, sha256_of

CPU = torch.device("cpu")
SMALL = DetectorSettings(shortest_edge=160, longest_edge=256)
VOCABULARY = ("cat", "cup", "teddy bear", "astronaut")
ALL = {"box_threshold": 0.0, "text_threshold": 0.0}  # random weights: keep every query

Frame = npt.NDArray[np.uint8]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """The tiny model's ops are too small to share across threads; on a busy 2-core machine two
    OpenMP threads made each forward 5-10x slower. Restored for the other test modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def detector() -> Iterator[Detector]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield build_random_detector(CPU, SMALL, seed=0, tiny=True)


def resize(frame: Frame, height: int, width: int) -> Frame:
    return np.asarray(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


@pytest.fixture(scope="module")
def cat() -> Frame:
    return np.ascontiguousarray(data.chelsea()[:300, :451])  # (300, 451, 3)


@pytest.fixture(scope="module")
def cup() -> Frame:
    return resize(data.coffee(), 200, 128)  # (200, 128, 3), squeezed on purpose


def assert_in_frame(found: Detections, frame: Frame) -> None:
    height, width = frame.shape[:2]
    assert found.boxes.dtype == np.float32 and found.boxes.shape == (len(found), 4)
    assert np.all(found.boxes >= 0)
    assert np.all(found.boxes[:, [0, 2]] <= width) and np.all(found.boxes[:, [1, 3]] <= height)
    assert np.all(found.boxes[:, 2] > found.boxes[:, 0]) and np.all(
        found.boxes[:, 3] > found.boxes[:, 1]
    )
    assert np.all((found.scores >= 0) & (found.scores <= 1))
    assert np.all(np.diff(found.scores) <= 0), "highest score first"


# -- detection on real photos ----------------------------------------------------------------


def test_batch_of_differently_sized_frames(detector: Detector, cat: Frame, cup: Frame) -> None:
    results = detector.detect([cat, cup], VOCABULARY, **ALL)
    assert len(results) == 2
    for found, frame in zip(results, (cat, cup), strict=True):
        assert isinstance(found, Detections)
        assert 0 < len(found) <= SMALL.max_detections
        assert_in_frame(found, frame)
        assert set(found.labels) <= set(VOCABULARY)
        assert found.masks is None and found.track_ids is None
    # the cup frame is tall and narrow: its boxes must not carry the wide cat frame's scale
    assert results[1].boxes[:, [0, 2]].max() <= cup.shape[1]


def test_boxes_scale_with_the_frame(detector: Detector) -> None:
    """A frame and the same frame twice as large reach the model as the same input."""
    small = resize(data.astronaut(), 80, 120)
    # The processor enlarges `small` to 160×240 with this very filter, so `large` (already
    # 160×240) is not resized at all and both give the model identical pixels.
    large = (
        tvF.resize(torch.from_numpy(small).permute(2, 0, 1), [160, 240], antialias=True)
        .permute(1, 2, 0)
        .numpy()
    )
    found_small, found_large = detector.detect([small, large], VOCABULARY, **ALL)
    assert len(found_small) == len(found_large) > 0
    assert found_small.labels == found_large.labels
    np.testing.assert_allclose(found_large.boxes, 2 * found_small.boxes, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(found_large.scores, found_small.scores, atol=1e-6)


def test_a_4d_batch_array_is_accepted(detector: Detector, cat: Frame) -> None:
    frame = resize(cat, 96, 144)
    batch = np.stack([frame, frame[:, ::-1]])
    results = detector.detect(batch, ["cat"], **ALL)
    assert len(results) == 2 and all(r.labels and set(r.labels) == {"cat"} for r in results)


def test_labels_are_whole_cleaned_vocabulary_words(detector: Detector, cat: Frame) -> None:
    found = detector.detect([cat], ["Teddy Bear", "<b>Cats</b>", "hot dog", "cup"], **ALL)[0]
    assert len(found) > 0
    assert set(found.labels) <= {"teddy bear", "cats", "hot dog", "cup"}


def test_max_detections_is_respected(detector: Detector, cat: Frame) -> None:
    unlimited = detector.with_settings(max_detections=1000, nms_iou=1.0).detect(
        [cat], VOCABULARY, **ALL
    )
    few = detector.with_settings(max_detections=3).detect([cat], VOCABULARY, **ALL)
    assert len(unlimited[0]) > 3
    assert len(few[0]) == 3
    assert few[0].scores[0] == unlimited[0].scores[0]


def test_thresholds_of_one_find_nothing(detector: Detector, cat: Frame, cup: Frame) -> None:
    assert [len(r) for r in detector.detect([cat, cup], VOCABULARY, box_threshold=1.0)] == [0, 0]
    strict_text = detector.detect([cat], VOCABULARY, box_threshold=0.0, text_threshold=1.0)
    assert len(strict_text[0]) == 0
    assert strict_text[0].boxes.shape == (0, 4)


def test_settings_thresholds_are_the_defaults(detector: Detector, cat: Frame) -> None:
    strict = detector.with_settings(box_threshold=1.0)
    assert len(strict.detect([cat], VOCABULARY)[0]) == 0
    assert len(strict.detect([cat], VOCABULARY, box_threshold=0.0, text_threshold=0.0)[0]) > 0


def test_an_empty_batch_gives_no_results(detector: Detector) -> None:
    assert detector.detect([], ["cat"]) == []


# -- text -------------------------------------------------------------------------------------


def test_the_tokenizer_really_tokenizes(detector: Detector) -> None:
    tokenizer = detector.tokenizer
    assert tokenizer.tokenize("cat . teddy bear . giraffes .") == [
        "cat",
        ".",
        "teddy",
        "bear",
        ".",
        "giraffe",
        "##s",
        ".",
    ]
    ids = tokenizer("cat")["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    vocab = tokenizer.get_vocab()
    # the model splits phrases at these ids: the generated vocabulary must match BERT's
    assert tuple(vocab[t] for t in DELIMITER_TOKENS) == BERT_DELIMITER_IDS
    text_config: Any = detector.model.config.text_config
    assert max(vocab.values()) < text_config.vocab_size


def test_caption_and_token_count(detector: Detector) -> None:
    assert Detector.caption(["Cat", "cup", "cat", "Teddy  Bear"]) == "cat . cup . teddy bear ."
    assert detector.token_count(["cat", "cup"]) == 6  # [CLS] cat . cup . [SEP]
    text = detector.encode_text(["cat", "teddy bear"])
    assert text.words == ("cat", "teddy bear")
    assert text.word_tokens.tolist() == [
        [False, True, False, False, False, False, False],
        [False, False, False, True, True, False, False],
    ]


@pytest.mark.parametrize("vocabulary", [[], ["", " "], " , ; ", "<b></b>"])
def test_empty_vocabulary_is_a_clear_error(
    detector: Detector, cat: Frame, vocabulary: list[str] | str
) -> None:
    with pytest.raises(VocabularyError, match="vocabulary is empty") as error:
        detector.detect([cat], vocabulary)
    assert str(error.value) == EMPTY_MESSAGE


def test_a_vocabulary_too_long_for_the_text_encoder_is_a_clear_error(
    detector: Detector, cat: Frame
) -> None:
    # Unknown words fall apart into one word piece per letter: 32 × 30 letters ≫ 256 tokens.
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("qxzjvkw"), 30)) for _ in range(32)]
    count = detector.token_count(words)
    assert count > 256
    with pytest.raises(VocabularyTooLongError, match=rf"{count} tokens.*at most 256"):
        detector.detect([cat], words)
    assert issubclass(VocabularyTooLongError, VocabularyError)


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((32, 32, 3), np.float32), "uint8"),
        (np.zeros((32, 32), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((32, 32, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((0, 32, 3), np.uint8), "empty"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_frames_raise_value_errors(detector: Detector, frame: object, match: str) -> None:
    good = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=f"frame 1: .*{match}"):
        detector.detect([good, frame], ["cat"])  # type: ignore[list-item]


def test_a_single_frame_instead_of_a_list_is_a_clear_error(detector: Detector, cat: Frame) -> None:
    with pytest.raises(ValueError, match=r"pass \[frame\]"):
        detector.detect(cat, ["cat"])


@pytest.mark.parametrize("kwargs", [{"box_threshold": 1.5}, {"text_threshold": -0.1}])
def test_thresholds_outside_unit_range_are_rejected(
    detector: Detector, cat: Frame, kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match="must lie in"):
        detector.detect([cat], ["cat"], **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"box_threshold": 2.0}, {"shortest_edge": 16}, {"longest_edge": 100}, {"max_detections": 0}],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DetectorSettings(**kwargs)  # type: ignore[arg-type]


# -- post-processing, on hand-made outputs ------------------------------------------------------


def _postprocess(probs: list[list[float]], boxes: list[list[float]], **kwargs: float) -> Detections:
    # caption "cat . teddy bear ." → [CLS] cat . teddy bear . [SEP]
    word_tokens = torch.tensor([[0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0]], dtype=torch.bool)
    settings = {"box_threshold": 0.3, "text_threshold": 0.25, "max_detections": 10, "nms_iou": 0.5}
    settings.update(kwargs)
    return postprocess(
        torch.tensor(probs),
        torch.tensor(boxes),
        word_tokens,
        ("cat", "teddy bear"),
        frame_size=(100, 200),
        box_threshold=settings["box_threshold"],
        text_threshold=settings["text_threshold"],
        max_detections=int(settings["max_detections"]),
        nms_iou=settings["nms_iou"],
    )


def test_postprocess_labels_scores_and_thresholds() -> None:
    found = _postprocess(
        [
            [0.0, 0.9, 0.0, 0.2, 0.1, 0.0, 0.0],  # cat 0.9
            [0.0, 0.1, 0.0, 0.3, 0.8, 0.0, 0.0],  # teddy bear (its second token) 0.8
            [0.0, 0.1, 0.0, 0.2, 0.1, 0.0, 0.0],  # below box_threshold: dropped
            [0.0, 0.2, 0.7, 0.1, 0.1, 0.0, 0.0],  # "." scores 0.7, no word reaches 0.25: dropped
            [0.0, 0.26, 0.6, 0.1, 0.1, 0.0, 0.0],  # score 0.6 from ".", label cat (0.26)
        ],
        [[0.25, 0.5, 0.5, 1.0], [0.75, 0.5, 0.5, 1.0], [0.5] * 4, [0.5] * 4, [0.5, 0.5, 0.1, 0.2]],
    )
    assert found.labels == ("cat", "teddy bear", "cat")
    np.testing.assert_allclose(found.scores, [0.9, 0.8, 0.6])
    # cx, cy, w, h normalised → xyxy in a 200-wide, 100-high frame
    np.testing.assert_allclose(
        found.boxes, [[0, 0, 100, 100], [100, 0, 200, 100], [90, 40, 110, 60]], atol=1e-4
    )


def test_postprocess_nms_is_per_label_and_boxes_are_clipped() -> None:
    cat, bear = [0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.8, 0.0, 0.0, 0.0]
    weaker_cat = [0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0]
    box = [0.5, 0.5, 0.4, 0.4]
    found = _postprocess([cat, weaker_cat, bear], [box, box, box])
    assert found.labels == ("cat", "teddy bear")  # the weaker overlapping cat is suppressed
    outside = _postprocess([cat, bear], [[0.95, 0.5, 0.3, 1.4], [1.5, 0.5, 0.2, 0.2]])
    assert outside.labels == ("cat",)  # the bear box lies wholly outside the frame: dropped
    np.testing.assert_allclose(outside.boxes, [[160, 0, 200, 100]], atol=1e-4)
    assert len(_postprocess([cat, weaker_cat, bear], [box, box, box], max_detections=1)) == 1


# -- builders, saving and loading ---------------------------------------------------------------


def test_random_detector_says_so(caplog: pytest.LogCaptureFixture) -> None:
    state = torch.random.get_rng_state()
    with caplog.at_level(logging.WARNING, logger="inference.detection.detector"):
        first = build_random_detector(CPU, SMALL, seed=3, tiny=True)
    assert RANDOM_WARNING in caplog.text
    assert torch.equal(torch.random.get_rng_state(), state), "the global RNG is left alone"
    second = build_random_detector(CPU, SMALL, seed=3, tiny=True)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    info = first.describe()
    assert info["weights"] == "random" and info["source"] is None
    assert info["device"] == "cpu" and info["num_queries"] == 30
    assert info["input_size"] == {"shortest_edge": 160, "longest_edge": 256}
    assert info["max_text_len"] == 256
    json.dumps(info)  # goes into logs and /readyz as is


def test_model_sources_are_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        load_models("pretrained", CPU)  # type: ignore[arg-type]


def test_load_detector_uses_the_manifest_directory(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, _empty_model_dir(tmp_path))
    with pytest.raises(CheckpointError, match=r"config\.json is missing") as error:
        load_detector(Manifest(manifest.entries, tmp_path / "gone"), CPU)
    assert FETCH_COMMAND in str(error.value)


def _empty_model_dir(root: Path) -> Path:
    model_dir = root / "grounding-dino-tiny"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}", encoding="utf-8")
    return model_dir


def write_manifest(
    root: Path,
    model_dir: Path,
    *,
    pin: bool = True,
    group: str = "grounding_dino",
    optional: bool = False,
) -> Manifest:
    entries = [
        {
            "group": group,
            "file": f"{model_dir.name}/{path.name}",
            "url": f"https://example.invalid/{path.name}",
            "revision": "test",
            "size": path.stat().st_size if pin else None,
            "sha256": sha256_of(path) if pin else None,
            "optional": optional,
        }
        for path in sorted(model_dir.iterdir())
    ]
    manifest_path = root / "manifest.json"
    manifest_path.write_text(json.dumps({"files": entries}), encoding="utf-8")
    return Manifest.load(manifest_path)


@pytest.fixture(scope="module")
def saved(detector: Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random detector written the way the real checkpoint is laid out."""
    model_dir = tmp_path_factory.mktemp("weights") / "grounding-dino-tiny"
    detector.model.save_pretrained(model_dir)
    detector.tokenizer.save_pretrained(model_dir)
    detector.image_processor.save_pretrained(model_dir)
    return model_dir


@pytest.fixture
def copy_of_saved(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / saved.name))


def test_saved_detector_loads_back_with_the_same_outputs(
    detector: Detector, saved: Path, cat: Frame, cup: Frame
) -> None:
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {
        p.name for p in saved.iterdir()
    }
    loaded = load_detector(write_manifest(saved.parent, saved), CPU, SMALL)
    info = loaded.describe()
    assert info["weights"] == "checkpoint" and info["source"] == str(saved)
    assert info["name"] == "grounding-dino-tiny"
    assert loaded.tokenizer.tokenize("teddy bear") == ["teddy", "bear"]
    expected = detector.detect([cat, cup], VOCABULARY, **ALL)
    actual = loaded.detect([cat, cup], VOCABULARY, **ALL)
    for a, b in zip(actual, expected, strict=True):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_wrong_hash_is_a_checkpoint_error(copy_of_saved: Path) -> None:
    manifest = write_manifest(copy_of_saved.parent, copy_of_saved)
    model_file = copy_of_saved / "model.safetensors"
    raw = bytearray(model_file.read_bytes())
    raw[-1] ^= 0xFF  # same size, different bytes
    model_file.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt") as error:
        load_detector(manifest, CPU)
    assert FETCH_COMMAND in str(error.value)


@pytest.mark.parametrize("pin", [True, False], ids=["pinned", "unpinned"])
def test_truncated_model_file_is_a_checkpoint_error(copy_of_saved: Path, pin: bool) -> None:
    manifest = write_manifest(copy_of_saved.parent, copy_of_saved, pin=pin)
    model_file = copy_of_saved / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as error:
        load_detector(manifest, CPU)
    message = str(error.value)
    assert FETCH_COMMAND in message
    if pin:  # caught by the size/hash check, before loading
        assert "model.safetensors is corrupt (truncated" in message
    else:  # caught when loading: names the directory
        assert f"cannot load the detector from {copy_of_saved}" in message


def test_bad_config_is_a_checkpoint_error(copy_of_saved: Path) -> None:
    manifest = write_manifest(copy_of_saved.parent, copy_of_saved, pin=False)
    (copy_of_saved / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(
        CheckpointError, match=f"cannot load the detector from {copy_of_saved}"
    ) as error:
        load_detector(manifest, CPU)
    assert FETCH_COMMAND in str(error.value)


def test_missing_directory_is_a_checkpoint_error(saved: Path, tmp_path: Path) -> None:
    manifest = write_manifest(saved.parent, saved)
    moved = Manifest(manifest.entries, tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing") as error:
        load_detector(moved, CPU)
    assert FETCH_COMMAND in str(error.value)


# -- the MM-Grounding-DINO choice ---------------------------------------------------------------

MM = "mm-grounding-dino-tiny"
MM_SMALL = replace(SMALL, model=MM)


@pytest.fixture(scope="module")
def mm_detector() -> Detector:
    return build_random_detector(CPU, MM_SMALL, seed=0, tiny=True)


@pytest.fixture(scope="module")
def mm_saved(mm_detector: Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random MM-Grounding-DINO written as the manifest lays out its checkpoint."""
    model_dir = tmp_path_factory.mktemp("weights") / MM
    mm_detector.model.save_pretrained(model_dir)
    mm_detector.tokenizer.save_pretrained(model_dir)
    mm_detector.image_processor.save_pretrained(model_dir)
    return model_dir


def mm_manifest(model_dir: Path, *, pin: bool = True) -> Manifest:
    """As weights/manifest.json lists it: group mm_grounding_dino, fetched only on request."""
    return write_manifest(
        model_dir.parent, model_dir, pin=pin, group="mm_grounding_dino", optional=True
    )


def test_the_detector_choice_is_checked(detector: Detector, mm_detector: Detector) -> None:
    with pytest.raises(ValueError, match=r"unknown detector 'owlv2'.*mm-grounding-dino-tiny"):
        DetectorSettings(model="owlv2")
    assert DetectorSettings().model == "grounding-dino-tiny"
    with pytest.raises(ValueError, match="build a mm-grounding-dino-tiny detector"):
        detector.with_settings(model=MM)
    assert (
        detector.with_settings(model="grounding-dino-tiny").settings.model == "grounding-dino-tiny"
    )
    # the model decides what a Detector is, whatever settings it was handed
    parts = (mm_detector.model, mm_detector.tokenizer, mm_detector.image_processor)
    relabelled = Detector(*parts, CPU, SMALL, weights="random")
    assert relabelled.settings.model == MM and relabelled.kind.name == MM


def test_random_mm_detector_builds_its_own_classes(mm_detector: Detector, cat: Frame) -> None:
    assert type(mm_detector.model) is MMGroundingDinoForObjectDetection
    info = mm_detector.describe()
    assert info["detector"] == MM and info["name"] == f"{MM}-test"
    assert info["architecture"] == "MMGroundingDinoForObjectDetection"
    assert info["settings"]["model"] == MM and info["weights"] == "random"
    assert mm_detector.with_runtime("fast").kind.name == MM
    (found,) = mm_detector.detect([cat], VOCABULARY, **ALL)
    assert 0 < len(found) <= 20 and set(found.labels) <= set(VOCABULARY)
    assert_in_frame(found, cat)


def test_saved_mm_detector_loads_back_with_the_same_outputs(
    mm_detector: Detector, mm_saved: Path, cat: Frame, cup: Frame
) -> None:
    assert {p.name for p in mm_saved.iterdir()} == {  # what the manifest lists for it
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    }
    loaded = load_detector(mm_manifest(mm_saved), CPU, MM_SMALL)
    assert type(loaded.model) is MMGroundingDinoForObjectDetection
    info = loaded.describe()
    assert info["weights"] == "checkpoint" and info["source"] == str(mm_saved)
    assert info["name"] == MM and info["detector"] == MM
    assert loaded.tokenizer.tokenize("teddy bear") == ["teddy", "bear"]
    expected = mm_detector.detect([cat, cup], VOCABULARY, **ALL)
    actual = loaded.detect([cat, cup], VOCABULARY, **ALL)
    for a, b in zip(actual, expected, strict=True):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    with pytest.raises(CheckpointError, match="lists no files for 'grounding_dino'"):
        load_detector(mm_manifest(mm_saved), CPU, SMALL)  # the default detector is not there


@pytest.mark.parametrize("direction", ["gdino-in-mm-folder", "mm-in-gdino-folder"])
def test_the_other_detectors_checkpoint_is_refused(
    saved: Path, mm_saved: Path, tmp_path: Path, direction: str
) -> None:
    """transformers would load one into the other's classes with a log line; we refuse."""
    if direction == "gdino-in-mm-folder":
        folder = Path(shutil.copytree(saved, tmp_path / MM))
        manifest, settings, found = mm_manifest(folder), MM_SMALL, "'grounding-dino'"
        hint = "--only mm_grounding_dino"
    else:
        folder = Path(shutil.copytree(mm_saved, tmp_path / "grounding-dino-tiny"))
        manifest, settings, found = write_manifest(tmp_path, folder), SMALL, "'mm-grounding-dino'"
        hint = "--only grounding_dino"
    with pytest.raises(CheckpointError, match=f"holds a {found} checkpoint") as error:
        load_detector(manifest, CPU, settings)
    assert FETCH_COMMAND in str(error.value) and hint in str(error.value)
    assert str(folder) in str(error.value)


def test_missing_mm_checkpoint_names_its_fetch_command(mm_saved: Path, tmp_path: Path) -> None:
    manifest = mm_manifest(mm_saved)
    moved = Manifest(manifest.entries, tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing") as error:
        load_detector(moved, CPU, MM_SMALL)
    message = str(error.value)
    assert f"`{FETCH_COMMAND} --only mm_grounding_dino`" in message
    assert str(tmp_path / "nowhere" / MM) in message and "--models random" in message


@pytest.mark.parametrize("pin", [True, False], ids=["pinned", "unpinned"])
def test_corrupt_mm_checkpoint_is_a_checkpoint_error(
    mm_saved: Path, tmp_path: Path, pin: bool
) -> None:
    folder = Path(shutil.copytree(mm_saved, tmp_path / MM))
    manifest = mm_manifest(folder, pin=pin)
    model_file = folder / "model.safetensors"
    raw = bytearray(model_file.read_bytes())
    raw[len(raw) // 2 :] = bytes(len(raw) - len(raw) // 2)  # same size, second half zeroed
    model_file.write_bytes(bytes(raw)[: len(raw) if pin else 4000])
    with pytest.raises(CheckpointError) as error:
        load_detector(manifest, CPU, MM_SMALL)
    message = str(error.value)
    assert FETCH_COMMAND in message
    if pin:  # the sha256 check, before loading
        assert "model.safetensors is corrupt (sha256" in message
    else:  # the loader, naming the folder
        assert f"cannot load the detector from {folder}" in message


# -- full size ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_full_size_random_detector_on_a_small_frame(cat: Frame) -> None:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))  # undone by _one_thread
    detector = build_random_detector(CPU, DetectorSettings(shortest_edge=256, longest_edge=384))
    info = detector.describe()
    assert info["weights"] == "random" and info["name"] == "grounding-dino-tiny"
    assert info["num_queries"] == 900 and info["parameters"] > 100_000_000
    frame = resize(cat, 150, 225)
    (found,) = detector.detect([frame], VOCABULARY, **ALL)
    assert 0 < len(found) <= 20
    assert_in_frame(found, frame)
    assert set(found.labels) <= set(VOCABULARY)
