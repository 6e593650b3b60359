"""The overlay renderer: what it touches, what it leaves alone, colours, badges, odd frames."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from skimage import data

from inference.core.detections import Detections
from inference.overlay.colours import (
    BLACK,
    PALETTE,
    WHITE,
    colour_for,
    colours_for,
    sanitise_text,
    text_colour_for,
    to_hex,
)
from inference.overlay.renderer import OverlayRenderer
from inference.overlay.style import Badge, OverlayStyle

REPO = Path(__file__).resolve().parents[2]

Frame = npt.NDArray[np.uint8]
Masks = npt.NDArray[np.bool_]


# ----------------------------------------------------------------------------- helpers


def ellipse(shape: tuple[int, int], cx: int, cy: int, ax: int, ay: int) -> Masks:
    """A filled ellipse mask (H, W) bool."""
    canvas = np.zeros(shape, np.uint8)
    cv2.ellipse(canvas, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return canvas.astype(bool)


def boxes_of(masks: Masks) -> npt.NDArray[np.float32]:
    """Tight xyxy boxes (N, 4) of masks (N, H, W); a zero box for an empty mask."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def detections_from_masks(
    masks: Masks, labels: tuple[str, ...], track_ids: list[int] | None = None
) -> Detections:
    n = len(masks)
    return Detections(
        boxes=boxes_of(masks),
        scores=np.full(n, 0.9, np.float32),
        labels=labels,
        masks=masks,
        track_ids=None if track_ids is None else np.array(track_ids, np.int64),
    )


def badge_union(shape: tuple[int, int], badges: list[Badge]) -> Masks:
    union = np.zeros(shape, bool)
    for b in badges:
        union[b.y1 : b.y2, b.x1 : b.x2] = True
    return union


def changed(before: Frame, after: Frame) -> Masks:
    """(H, W) bool: where any channel differs."""
    return np.any(before != after, axis=2)


def assert_badges_inside(badges: list[Badge], height: int, width: int) -> None:
    for b in badges:
        assert 0 <= b.x1 < b.x2 <= width, b
        assert 0 <= b.y1 < b.y2 <= height, b


# ----------------------------------------------------------------------------- scenes


def cat_scene() -> tuple[Frame, Detections]:
    """Chelsea the cat: a big face mask with two eye masks on top of it and a corner object."""
    frame = data.chelsea()
    shape = frame.shape[:2]
    masks = np.stack(
        [
            ellipse(shape, 230, 160, 170, 130),
            ellipse(shape, 150, 110, 40, 30),
            ellipse(shape, 300, 110, 40, 30),
            ellipse(shape, 5, 295, 30, 30),  # cut off by the bottom-left corner
        ]
    )
    return frame, detections_from_masks(masks, ("cat", "eye", "eye", "ball"))


def coffee_scene() -> tuple[Frame, Detections]:
    """The coffee cup photo with a cup, a saucer-sized ring and objects touching every edge."""
    frame = data.coffee()
    height, width = frame.shape[:2]
    shape = (height, width)
    cup = ellipse(shape, 300, 200, 150, 110)
    ring = ellipse(shape, 300, 220, 250, 160) & ~ellipse(shape, 300, 220, 200, 120)
    top_right = np.zeros(shape, bool)
    top_right[: height // 5, width - width // 6 :] = True
    bottom = np.zeros(shape, bool)
    bottom[height - 3 :, :] = True
    masks = np.stack([cup, ring, top_right, bottom])
    return frame, detections_from_masks(masks, ("cup", "plate", "spoon", "table"), [3, 4, 5, 6])


def random_blobs_scene() -> tuple[Frame, Detections]:
    """Noise and eight random overlapping blobs, some tiny, some huge."""
    rng = np.random.default_rng(7)
    height, width = 240, 320
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    masks = []
    for _ in range(8):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        ax, ay = int(rng.integers(1, 120)), int(rng.integers(1, 90))
        masks.append(ellipse((height, width), cx, cy, ax, ay))
    labels = ("cat", "dog", "cup", "apple", "ball", "book", "chair", "bird")
    return frame, detections_from_masks(np.stack(masks), labels)


SCENES = {"cat": cat_scene, "coffee": coffee_scene, "random blobs": random_blobs_scene}


# ----------------------------------------------------------------------------- the invariant


@pytest.mark.parametrize("scene_name", list(SCENES))
@pytest.mark.parametrize(
    "style",
    [OverlayStyle(), OverlayStyle(fill_alpha=0.8, contour_thickness=5, font_scale=2.0)],
    ids=["default", "heavy"],
)
def test_only_masks_and_badges_change_and_masks_all_do(
    scene_name: str, style: OverlayStyle
) -> None:
    frame, detections = SCENES[scene_name]()
    original = frame.copy()
    renderer = OverlayRenderer(style)
    out = renderer.annotate(frame, detections)

    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out is not frame and not np.shares_memory(out, frame)
    np.testing.assert_array_equal(frame, original)  # the input is untouched

    assert detections.masks is not None
    mask_union = detections.masks.any(axis=0)
    badges = renderer.layout(frame.shape, detections)
    assert len(badges) == len(detections)
    allowed = mask_union | badge_union(frame.shape[:2], badges)
    diff = changed(frame, out)
    assert not np.any(diff & ~allowed), "pixels outside the masks and badges changed"
    assert diff[mask_union].mean() > 0.99, "some mask pixels were not drawn"


def test_output_is_deterministic() -> None:
    frame, detections = coffee_scene()
    first = OverlayRenderer().annotate(frame, detections)
    second = OverlayRenderer().annotate(frame.copy(), detections)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "detections",
    [Detections.empty(), Detections.empty((300, 451))],
    ids=["no masks", "empty masks"],
)
def test_no_objects_gives_an_identical_copy(detections: Detections) -> None:
    frame = data.chelsea()
    out = OverlayRenderer().annotate(frame, detections)
    np.testing.assert_array_equal(out, frame)
    assert not np.shares_memory(out, frame)


def test_non_contiguous_and_read_only_input() -> None:
    frame, detections = cat_scene()
    padded = np.zeros((frame.shape[0], frame.shape[1] * 2, 3), np.uint8)
    padded[:, ::2] = frame
    view = padded[:, ::2]
    view.flags.writeable = False
    np.testing.assert_array_equal(
        OverlayRenderer().annotate(view, detections), OverlayRenderer().annotate(frame, detections)
    )


# ----------------------------------------------------------------------------- drawing details


def test_contour_is_inside_the_mask_in_a_darker_shade() -> None:
    frame = np.full((100, 120, 3), 128, np.uint8)
    mask = np.zeros((100, 120), bool)
    mask[30:80, 40:100] = True
    detections = detections_from_masks(mask[None], ("cup",))
    style = OverlayStyle(contour_thickness=3, contour_shade=0.5, draw_labels=False)
    out = OverlayRenderer(style).annotate(frame, detections)
    colour = np.array(colour_for("cup"))
    shade = np.round(colour * 0.5).astype(np.uint8)
    border = mask & ~cv2.erode(mask.view(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[30, 40], shade)  # the corner of the mask
    np.testing.assert_array_equal(out[32, 60], shade)  # within 3 px of the top edge
    assert np.all(out[border] == shade)
    interior = out[55, 70].astype(int)  # the translucent fill: between grey and the colour
    expected = 128 * 0.55 + colour * 0.45
    assert np.all(np.abs(interior - expected) <= 1)
    assert not np.any(changed(frame, out) & ~mask)


def test_larger_objects_are_drawn_first_so_small_ones_stay_visible() -> None:
    frame = np.full((120, 160, 3), 90, np.uint8)
    small = np.zeros((120, 160), bool)
    small[50:70, 70:90] = True
    big = np.zeros((120, 160), bool)
    big[10:110, 10:150] = True
    # the small object comes first: drawing in object order would paint the big one over it
    detections = detections_from_masks(np.stack([small, big]), ("ball", "table"))
    style = OverlayStyle(contour_thickness=1, draw_labels=False)
    out = OverlayRenderer(style).annotate(frame, detections)
    small_shade = np.round(np.array(colour_for("ball")) * style.contour_shade)
    np.testing.assert_array_equal(out[50, 70:90], np.tile(small_shade, (20, 1)))
    np.testing.assert_array_equal(out[69, 75], small_shade)


def test_without_masks_boxes_are_outlined_inside() -> None:
    frame = data.coffee()
    boxes = np.array([[50.4, 60.2, 200.7, 180.1], [0, 0, 600, 400], [550, 350, 600, 400]])
    detections = Detections(boxes, np.ones(3, np.float32), ("cup", "table", "spoon"))
    renderer = OverlayRenderer(OverlayStyle(contour_thickness=2))
    out = renderer.annotate(frame, detections)
    box_union = np.zeros(frame.shape[:2], bool)
    for x1, y1, x2, y2 in [(50, 60, 201, 181), (0, 0, 600, 400), (550, 350, 600, 400)]:
        box_union[y1:y2, x1:x2] = True
    badges = renderer.layout(frame.shape, detections)
    diff = changed(frame, out)
    assert not np.any(diff & ~(box_union | badge_union(frame.shape[:2], badges)))
    # the outline: the cup box's bottom-right pixels, just inside its exclusive edge
    shade = np.round(np.array(colour_for("cup")) * 0.7).astype(np.uint8)
    np.testing.assert_array_equal(out[180, 120], shade)
    np.testing.assert_array_equal(out[120, 199], shade)
    np.testing.assert_array_equal(out[120, 120], frame[120, 120])  # inside is not filled
    assert diff[0, 300] and diff[399, 300] and diff[200, 0] and diff[200, 599]  # the frame box


def test_tracked_objects_are_coloured_by_id() -> None:
    frame = np.full((80, 80, 3), 200, np.uint8)
    masks = np.zeros((2, 80, 80), bool)
    masks[0, 10:30, 10:30] = True
    masks[1, 50:70, 50:70] = True
    same_label = detections_from_masks(masks, ("cat", "cat"), track_ids=[1, 2])
    assert colours_for(same_label) == [colour_for(1), colour_for(2)]
    assert colour_for(1) != colour_for(2)
    out = OverlayRenderer(OverlayStyle(contour_thickness=1, draw_labels=False)).annotate(
        frame, same_label
    )
    assert not np.array_equal(out[20, 20], out[60, 60])  # two cats, two colours
    untracked = detections_from_masks(masks, ("cat", "cat"))
    assert colours_for(untracked) == [colour_for("cat")] * 2


def test_badge_shows_its_text_on_its_colour() -> None:
    frame = np.zeros((200, 300, 3), np.uint8)
    mask = np.zeros((200, 300), bool)
    mask[100:180, 100:250] = True
    detections = detections_from_masks(mask[None], ("apple",))
    renderer = OverlayRenderer()
    (badge,) = renderer.layout(frame.shape, detections)
    out = renderer.annotate(frame, detections)
    patch = out[badge.y1 : badge.y2, badge.x1 : badge.x2].reshape(-1, 3)
    background = np.all(patch == badge.colour, axis=1).mean()
    near_text = (np.abs(patch.astype(int) - badge.text_colour).max(axis=1) <= 60).mean()
    assert 0.4 < background < 0.97 and near_text > 0.02


# ----------------------------------------------------------------------------- colours


def test_colour_is_stable_across_processes() -> None:
    code = (
        "from inference.overlay.colours import colour_for; "
        "print(colour_for('cat'), colour_for('teddy bear'), colour_for(7))"
    )
    outputs = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(result.stdout.strip())
    assert outputs == {f"{colour_for('cat')} {colour_for('teddy bear')} {colour_for(7)}"}
    # pinned, so a palette or hash change is a deliberate, visible decision
    assert colour_for("cat") == (230, 38, 51)
    assert colour_for(7) == PALETTE[7]


def test_common_words_get_different_colours() -> None:
    words = ["cat", "cup", "dog", "apple", "ball", "person", "banana", "book", "chair", "bird"]
    colours = [colour_for(word) for word in words]
    assert len(set(colours)) == len(words)


@pytest.mark.parametrize(("a", "b"), [("cat", "Cat"), ("teddy bear", "  Teddy   BEAR "), (3, 23)])
def test_equivalent_keys_share_a_colour(a: str | int, b: str | int) -> None:
    assert colour_for(a) == colour_for(b)


def test_track_ids_and_numpy_ints() -> None:
    assert len({colour_for(i) for i in range(len(PALETTE))}) == len(PALETTE)
    assert colour_for(np.int64(5)) == colour_for(5)
    assert colour_for(-1) in PALETTE
    with pytest.raises(TypeError):
        colour_for(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ((255, 255, 0), BLACK),
        ((255, 255, 255), BLACK),
        ((100, 240, 180), BLACK),
        ((0, 0, 128), WHITE),
        ((0, 0, 0), WHITE),
        ((110, 60, 255), WHITE),
        ((20, 90, 200), WHITE),
    ],
)
def test_text_colour_has_the_better_contrast(
    background: tuple[int, int, int], text: tuple[int, int, int]
) -> None:
    assert text_colour_for(background) == text


def test_every_palette_colour_has_readable_text() -> None:
    def luminance(c: tuple[int, int, int]) -> float:
        lin = [
            (v / 255 / 12.92) if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4
            for v in c
        ]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for colour in PALETTE:
        a, b = luminance(colour), luminance(text_colour_for(colour))
        assert (max(a, b) + 0.05) / (min(a, b) + 0.05) >= 3.0, colour


def test_to_hex() -> None:
    assert to_hex((255, 8, 0)) == "#ff0800"


# ----------------------------------------------------------------------------- layout


def box_detections(
    boxes: Sequence[Sequence[float]], labels: tuple[str, ...] | None = None
) -> Detections:
    n = len(boxes)
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.ones(n, np.float32),
        labels if labels is not None else tuple(f"thing {i}" for i in range(n)),
    )


@pytest.mark.parametrize(
    ("frame_hw", "box"),
    [
        ((480, 640), [0, 0, 50, 50]),  # top-left corner
        ((480, 640), [600, 0, 640, 30]),  # top-right corner
        ((480, 640), [0, 440, 40, 480]),  # bottom-left corner
        ((480, 640), [620, 460, 640, 480]),  # bottom-right corner
        ((480, 640), [639, 479, 640, 480]),  # the last pixel
        ((480, 640), [640, 480, 640, 480]),  # an empty box on the far corner
        ((480, 640), [0, 0, 640, 480]),  # the whole frame
        ((9, 17), [0, 0, 17, 9]),  # a frame smaller than any badge
        ((17, 9), [3, 3, 4, 4]),
        ((1, 1), [0, 0, 1, 1]),
    ],
)
def test_badges_stay_inside_the_frame(frame_hw: tuple[int, int], box: list[float]) -> None:
    badges = OverlayRenderer().layout(frame_hw, box_detections([box], ("a long label here",)))
    assert len(badges) == 1
    assert_badges_inside(badges, *frame_hw)


def test_badge_sits_above_the_box_when_there_is_room_else_inside() -> None:
    renderer = OverlayRenderer()
    above, inside = renderer.layout(
        (480, 640), box_detections([[100, 200, 300, 400], [50, 5, 200, 100]])
    )
    assert above.y2 == 200 and above.x1 == 100
    assert inside.y1 == 5 and inside.x1 == 50


def test_badges_do_not_overlap_when_there_is_room() -> None:
    boxes = [[100, 100, 300, 300], [105, 102, 280, 290], [98, 99, 250, 250], [110, 101, 200, 200]]
    badges = OverlayRenderer().layout((480, 640), box_detections(boxes))
    assert [b.index for b in badges] == [0, 1, 2, 3]
    for i, a in enumerate(badges):
        for b in badges[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    assert_badges_inside(badges, 480, 640)


def test_badges_near_the_bottom_move_up() -> None:
    boxes = [[10, 470, 200, 480], [12, 471, 200, 480]]
    badges = OverlayRenderer().layout((480, 640), box_detections(boxes))
    assert not badges[0].overlaps(badges[1])
    assert_badges_inside(badges, 480, 640)


def test_layout_is_pure_and_deterministic() -> None:
    detections = box_detections([[10, 10, 100, 100], [20, 15, 90, 120]], ("cat", "dog"))
    renderer = OverlayRenderer()
    assert renderer.layout((300, 400, 3), detections) == renderer.layout((300, 400), detections)
    assert renderer.layout((300, 400), detections) == OverlayRenderer().layout(
        (300, 400), detections
    )


def test_texts_override_labels_and_are_sanitised() -> None:
    detections = box_detections([[10, 50, 100, 100]] * 4, ("cat", "dog", "cup", "ball"))
    texts = ["Café\t🐱", "x" * 100, "", "that's a ball!"]
    badges = OverlayRenderer(OverlayStyle(max_text_chars=12)).layout((480, 640), detections, texts)
    assert [(b.index, b.text) for b in badges] == [
        (0, "Cafe"),
        (1, "xxxxxxxxx..."),
        (3, "that's a..."),
    ]
    with pytest.raises(ValueError, match="one entry per object"):
        OverlayRenderer().layout((480, 640), detections, ["only one"])


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("teddy bear", 24, "teddy bear"),
        ("  cell\nphone ", 24, "cell phone"),
        ("naïve crème brûlée", 24, "naive creme brulee"),
        ("猫", 24, ""),
        ("\x00\x07bell", 24, "bell"),
        ("abcdefgh", 5, "ab..."),
        ("abcdefgh", 2, "ab"),
    ],
)
def test_sanitise_text(text: str, limit: int, expected: str) -> None:
    assert sanitise_text(text, limit) == expected


def test_labels_can_be_switched_off() -> None:
    frame, detections = cat_scene()
    renderer = OverlayRenderer(OverlayStyle(draw_labels=False))
    assert renderer.layout(frame.shape, detections) == []
    assert detections.masks is not None
    assert not np.any(
        changed(frame, renderer.annotate(frame, detections)) & ~detections.masks.any(0)
    )


def test_sizes_grow_with_the_frame() -> None:
    style = OverlayStyle()
    small, big = style.metrics((480, 640)), style.metrics((2160, 3840))
    assert big.font_scale > small.font_scale and big.contour_thickness > small.contour_thickness
    assert small.font_scale >= 1.0  # big enough for a phone
    assert OverlayStyle(font_scale=3.0, contour_thickness=7).metrics((9, 17)).font_scale == 3.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fill_alpha": 1.5},
        {"fill_alpha": -0.1},
        {"contour_thickness": 0},
        {"font_scale": 0.0},
        {"font_scale": float("nan")},
        {"padding": -1},
        {"max_text_chars": 0},
        {"contour_shade": 2.0},
    ],
)
def test_bad_styles_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OverlayStyle(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "scene",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 4), np.uint8),
    ],
    ids=["gray", "float", "rgba"],
)
def test_bad_scenes_are_rejected(scene: Frame) -> None:
    with pytest.raises(ValueError):
        OverlayRenderer().annotate(scene, Detections.empty())


def test_masks_of_the_wrong_size_are_rejected() -> None:
    detections = detections_from_masks(np.ones((1, 20, 20), bool), ("cat",))
    with pytest.raises(ValueError, match="masks are"):
        OverlayRenderer().annotate(np.zeros((10, 10, 3), np.uint8), detections)


# ----------------------------------------------------------------------------- odd frames


@pytest.mark.parametrize(
    ("height", "width", "mask_rect"),
    [
        (9, 17, (4, 8, 5, 9)),  # a 1×1 px mask in a 17×9 frame
        (17, 9, (0, 0, 1, 1)),  # a 1×1 px mask in the corner
        (9, 17, (0, 0, 9, 17)),  # a mask covering the whole tiny frame
        (1, 1, (0, 0, 1, 1)),
        (3000, 4000, (1200, 1500, 2400, 3000)),  # a big photo with one object
    ],
)
def test_odd_frame_sizes(height: int, width: int, mask_rect: tuple[int, int, int, int]) -> None:
    frame = np.full((height, width, 3), 60, np.uint8)
    y1, x1, y2, x2 = mask_rect
    masks = np.zeros((1, height, width), bool)
    masks[0, y1:y2, x1:x2] = True
    detections = detections_from_masks(masks, ("ball",))
    renderer = OverlayRenderer()
    badges = renderer.layout(frame.shape, detections)
    assert_badges_inside(badges, height, width)
    out = renderer.annotate(frame, detections)
    diff = changed(frame, out)
    assert diff[masks[0]].all()
    assert not np.any(diff & ~(masks[0] | badge_union((height, width), badges)))


def test_an_empty_mask_still_gets_its_badge() -> None:
    frame = np.full((50, 80, 3), 30, np.uint8)
    detections = Detections(
        np.array([[10, 20, 40, 45]], np.float32),
        np.ones(1, np.float32),
        ("cup",),
        np.zeros((1, 50, 80), bool),
    )
    renderer = OverlayRenderer()
    (badge,) = renderer.layout(frame.shape, detections)
    diff = changed(frame, renderer.annotate(frame, detections))
    assert diff.any() and not np.any(diff & ~badge_union((50, 80), [badge]))


# ----------------------------------------------------------------------------- benchmark


def test_benchmark_annotate_640x480_five_objects() -> None:
    """Checks every frame it times is drawn right; prints the time per frame and never asserts
    on it (timings belong to benchmarks)."""
    rng = np.random.default_rng(0)
    frame = cv2.resize(data.chelsea(), (640, 480))
    original = frame.copy()
    masks = np.stack(
        [
            ellipse((480, 640), int(rng.integers(80, 560)), int(rng.integers(60, 420)), r, r)
            for r in (200, 60, 80, 70, 50)
        ]
    )
    detections = detections_from_masks(masks, ("cat", "cup", "dog", "apple", "ball"))
    renderer = OverlayRenderer()
    badges = renderer.layout(frame.shape, detections)
    expected = renderer.annotate(frame, detections)
    # what a correct drawing of these five objects looks like: every mask pixel drawn, nothing
    # outside the masks and the five badges touched, each object's contour in its own shade
    assert len(badges) == 5
    assert_badges_inside(badges, 480, 640)
    diff = changed(frame, expected)
    assert diff[masks.any(axis=0)].all(), "some mask pixels were not drawn"
    assert not np.any(diff & ~(masks.any(axis=0) | badge_union((480, 640), badges)))
    for mask, label in zip(masks, detections.labels, strict=True):
        shade = np.round(np.array(colour_for(label)) * OverlayStyle().contour_shade)
        assert np.all(expected[mask] == shade, axis=1).any(), f"no contour for {label}"
    for _ in range(3):
        renderer.annotate(frame, detections)
    runs, elapsed = 50, 0.0
    for _ in range(runs):
        start = time.perf_counter()
        out = renderer.annotate(frame, detections)
        elapsed += time.perf_counter() - start
        # every timed frame is the same correct drawing, not a cached or skipped one
        np.testing.assert_array_equal(out, expected)
    per_frame_ms = elapsed / runs * 1000
    np.testing.assert_array_equal(frame, original)
    print(f"\noverlay annotate 640x480, 5 objects: {per_frame_ms:.2f} ms/frame")
