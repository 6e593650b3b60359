"""The pieces of the video path on their own: mailbox bounds, output sizing, mask fitting, the
painter, one RGB conversion per frame, and a bad result costing an overlay, not the video."""

from __future__ import annotations

import asyncio
import fractions
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import av
import cv2
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from inference.core.detections import Detections
from stream.webrtc.outgoing_load import LIGHT_FOLLOWING, SMALL_VIDEO_ROWS
from stream.webrtc.tracks import (
    AnnotatedVideoTrack,
    FrameMailbox,
    OverlayPainter,
    SharedFrame,
    fit_detections,
    output_size,
)
from tests.support.rtc_client import photo


@dataclass(frozen=True)
class Result:
    frame_size: tuple[int, int]
    detections: Detections
    texts: tuple[str, ...]
    luma: np.ndarray | None = None


def _frame(image: np.ndarray, pts: int = 3000) -> SharedFrame:
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, 90_000)
    return SharedFrame(frame)


def _square(size: tuple[int, int]) -> Detections:
    h, w = size
    masks = np.zeros((1, h, w), bool)
    masks[0, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    box = np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32)
    return Detections(box, np.array([0.8], np.float32), ("cup",), masks, np.array([4]))


@pytest.mark.parametrize(
    ("camera", "setting", "expected"),
    [
        ((480, 640), None, (480, 640)),
        ((480, 640), 480, (480, 640)),
        ((480, 640), 720, (480, 640)),  # never upscaled
        ((480, 640), 240, (240, 320)),
        ((720, 1280), 361, (360, 640)),  # even sides
        ((640, 480), 320, (320, 240)),  # portrait phone
    ],
)
def test_output_size(
    camera: tuple[int, int], setting: int | None, expected: tuple[int, int]
) -> None:
    assert output_size(*camera, setting) == expected


def test_fit_detections_scales_boxes_and_keeps_masks_crisp() -> None:
    small = _square((120, 160))
    fitted = fit_detections(small, (120, 160), (240, 320))
    assert fitted.masks is not None and fitted.masks.shape == (1, 240, 320)
    assert fitted.masks.dtype == bool
    np.testing.assert_allclose(fitted.boxes, [[80, 60, 240, 180]])
    assert fitted.masks[0, 120, 160] and not fitted.masks[0, 10, 10]
    assert fitted.labels == ("cup",) and fitted.track_ids is not None
    assert fit_detections(small, (120, 160), (120, 160)) is small


def test_mailbox_keeps_the_newest_frames_and_counts_drops() -> None:
    async def scenario() -> None:
        box = FrameMailbox(2)
        frames = [_frame(photo(), pts=i) for i in range(5)]
        dropped = [box.put(f) for f in frames]
        assert dropped == [False, False, True, True, True] and box.dropped == 3
        assert (await box.get()) is frames[3] and (await box.get()) is frames[4]
        waiter = asyncio.create_task(box.get())
        await asyncio.sleep(0)  # one loop turn: the waiter runs up to its wait for a frame
        assert not waiter.done(), "an empty box makes the reader wait"
        box.close()
        with pytest.raises(MediaStreamError):
            await waiter
        assert not box.put(frames[0]), "a closed box takes nothing"

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_rgb_is_converted_once_even_when_two_threads_ask() -> None:
    shared = _frame(photo())
    arrays: list[np.ndarray] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        arrays.append(shared.rgb())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(arrays) == 4 and all(a is arrays[0] for a in arrays)


def test_painter_draws_a_smaller_result_in_place_and_keeps_timestamps() -> None:
    image = photo("coffee", 320, 240)
    painter = OverlayPainter()
    plain = painter.paint(_frame(image), None)
    assert (plain.pts, plain.time_base) == (3000, fractions.Fraction(1, 90_000))
    camera_rgb = _frame(image).rgb()
    np.testing.assert_array_equal(plain.to_ndarray(format="rgb24"), camera_rgb)

    result = Result((120, 160), _square((120, 160)), ("a cup",))
    out = painter.paint(_frame(image), result).to_ndarray(format="rgb24")
    diff = np.abs(out.astype(int) - camera_rgb.astype(int)).sum(axis=2)
    assert diff[100:140, 120:200].mean() > 30, "the mask is drawn over the middle"
    assert diff[200:, :].max() == 0 and diff[:, :60].max() == 0, "nothing else changes"

    small = OverlayPainter(output_height=120).paint(_frame(image), result)
    assert (small.height, small.width) == (120, 160)


@pytest.mark.parametrize("result", [None, Result((240, 320), Detections.empty((240, 320)), ())])
def test_nothing_to_draw_sends_the_camera_frame_without_converting_it(
    result: Result | None,
) -> None:
    shared = _frame(photo("coffee", 320, 240))
    plain = OverlayPainter(follow=False).paint(shared, result)
    assert shared._rgb is None, "no RGB round trip for a frame with nothing on it"
    # never the shared frame itself: the engine may be converting it in its thread
    assert plain is not shared.frame
    assert (plain.pts, plain.time_base) == (shared.frame.pts, shared.frame.time_base)
    np.testing.assert_array_equal(plain.to_ndarray(), shared.frame.to_ndarray())
    resized = OverlayPainter(output_height=120).paint(shared, result)
    assert resized is not shared.frame and (resized.height, resized.width) == (120, 160)


def test_a_bad_result_costs_the_overlay_not_the_frame() -> None:
    async def scenario() -> None:
        box = FrameMailbox(2)
        errors: list[BaseException] = []
        broken = Result((240, 320), _square((240, 320)), ("one", "too many texts"))
        with ThreadPoolExecutor(1) as pool:
            track = AnnotatedVideoTrack(
                box, OverlayPainter(), lambda: broken, pool, None, errors.append
            )
            box.put(_frame(photo()))
            frame = await track.recv()
            assert (frame.width, frame.height) == (320, 240)
            assert len(errors) == 1 and isinstance(errors[0], ValueError)
            track.stop()
            with pytest.raises(MediaStreamError):
                await track.recv()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_pass_through_copies_a_yuv_frame_and_its_luma_is_full_range() -> None:
    image = photo("coffee", 320, 240)
    yuv = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    yuv.pts, yuv.time_base = 4500, fractions.Fraction(1, 90_000)
    shared = SharedFrame(yuv)
    copy = OverlayPainter().paint(shared, None)
    assert copy is not yuv and copy.format.name == "yuv420p" and copy.pts == 4500
    np.testing.assert_array_equal(copy.to_ndarray(), yuv.to_ndarray())
    gray = cv2.cvtColor(yuv.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY).astype(int)
    assert np.abs(shared.luma().astype(int) - gray).mean() < 3


def _moved_photo(dx: int) -> np.ndarray:
    """The coffee photo shifted right by dx pixels (the picture moves, as when the phone pans)."""
    wide = photo("coffee", 400, 300)
    return np.ascontiguousarray(wide[30:270, 40 - dx : 360 - dx])


def test_the_painter_follows_the_masks_to_the_current_frame_and_counts_them() -> None:
    size = (240, 320)
    made_on = _moved_photo(0)
    masks = np.zeros((1, *size), bool)
    masks[0, 80:160, 100:200] = True
    detections = Detections(
        np.array([[100, 80, 200, 160]], np.float32), np.array([0.9]), ("cup",), masks, np.array([3])
    )
    gray = cv2.cvtColor(made_on, cv2.COLOR_RGB2GRAY)
    result = Result(size, detections, ("a cup",), gray)
    following, still = OverlayPainter(), OverlayPainter(follow=False)
    for painter in (following, still):
        painter.paint(_frame(made_on), None)
        for dx in (4, 8, 12):
            out = painter.paint(_frame(_moved_photo(dx)), result)
    assert following.masks_drawn == 3 and still.masks_drawn == 3
    camera = _moved_photo(12).astype(int)
    moved = (
        np.abs(
            following.paint(_frame(_moved_photo(12)), result).to_ndarray(format="rgb24").astype(int)
            - camera
        ).sum(axis=2)
        > 0
    )
    assert moved[100:150, 120:205].mean() > 0.9, "the overlay moved right with the picture"
    assert moved[100:150, 100:108].mean() < 0.1, "and left the strip it uncovered"
    out_still = np.abs(out.to_ndarray(format="rgb24").astype(int) - camera).sum(axis=2) > 0
    assert out_still[100:150, 100:108].mean() > 0.9, "without following it stays put"
    assert following.follower is not None and following.follower.caught_up >= 0


def test_load_levels_make_the_painter_lighter_and_back() -> None:
    image = photo("coffee", 640, 480)
    size = (480, 640)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    result = Result(size, _square(size), ("a cup",), gray)
    painter = OverlayPainter()
    assert painter.follower is not None
    full_settings = painter.follower.settings
    assert (painter.paint(_frame(image), result).height, painter.masks_drawn) == (480, 1)

    painter.set_load_level(1)  # lighter following, same size
    assert painter.follower.settings == LIGHT_FOLLOWING != full_settings
    assert painter.paint(_frame(image), result).height == 480
    painter.set_load_level(2)  # and a smaller returned video, masks still drawn
    small = painter.paint(_frame(image), result)
    assert (small.height, small.width) == (SMALL_VIDEO_ROWS, 480)
    assert painter.masks_drawn == 3
    painter.set_load_level(0)
    assert painter.follower.settings == full_settings
    assert painter.paint(_frame(image), result).height == 480

    asked = OverlayPainter(output_height=240)  # the session's own cap stays the upper bound
    asked.set_load_level(2)
    assert asked.paint(_frame(image), result).height == 240
    asked.set_load_level(0)
    assert asked.paint(_frame(image), result).height == 240
