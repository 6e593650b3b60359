"""`POST /api/segment` against the real server and a real engine (tiny random models on the CPU):
JPEG, PNG and WebP photos answer the `segment` CLI's JSON with PNG URLs; bad input, oversized
uploads, a full queue, an engine still loading and an engine without models are refused."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import numpy as np
import pytest
import torch
from PIL import Image

from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.models import Models
from inference.segmentation.everything import FALLBACK_LABEL
from stream.app import ServerConfig, create_app
from stream.photos.photo_api import NEEDS_MODELS, PHOTO_KEY, PhotoSettings
from stream.webrtc.engine_seam import EngineLike
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import photo, serving

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "inference" / "schemas" / "segment_result.schema.json").read_text()
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# random weights score low: pin thresholds so the tiny detector finds things
PINNED = LightingSettings(box_threshold=0.0, text_threshold=0.0)


def _engine(models: Models) -> Engine:
    return Engine(models, EngineSettings(max_side=320, lighting=PINNED))


def _encoded(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _form(image: bytes | None, filename: str = "photo.png", **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    if image is not None:
        form.add_field("image", image, filename=filename, content_type="application/octet-stream")
    for name, value in fields.items():
        form.add_field(name, value)
    return form


Check = Callable[[aiohttp.ClientSession, str, Any], Awaitable[None]]


def _serve(engine: EngineLike | None, settings: PhotoSettings, check: Check, **kw: Any) -> None:
    async def main() -> None:
        config = ServerConfig(photo=settings)
        app = create_app(config, engine=engine, **kw)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            await check(http, base, app)

    asyncio.run(asyncio.wait_for(main(), 120))


async def _post(http: aiohttp.ClientSession, base: str, form: Any) -> tuple[int, Any, Any]:
    async with http.post(f"{base}/api/segment", data=form) as response:
        body = await response.json(content_type=None)
        return response.status, body, response.headers


def test_jpeg_png_webp_answer_the_cli_schema_with_png_urls(models: Models) -> None:
    uploads = [
        ("chelsea.jpg", _encoded(photo("chelsea", 320, 240), "JPEG"), {"words": "cat, cup"}),
        ("coffee.png", _encoded(photo("coffee", 240, 320), "PNG"), {"theme": "kitchen"}),
        ("astronaut.webp", _encoded(photo("astronaut", 256, 256), "WEBP"), {"words": "person"}),
    ]

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        found = 0
        for filename, data, fields in uploads:
            status, report, _headers = await _post(http, base, _form(data, filename, **fields))
            assert status == 200, report
            overlay_url, masks_url = report.pop("overlay_url"), report.pop("masks_url")
            jsonschema.validate(report, SCHEMA)
            assert report["image"]["path"] == filename
            assert report["random_weights"] is True
            assert report["outputs"]["overlay"] == overlay_url
            width, height = report["image"]["width"], report["image"]["height"]
            for url in (overlay_url, masks_url):
                async with http.get(f"{base}{url}") as response:
                    assert response.status == 200
                    assert response.content_type == "image/png"
                    png = await response.read()
                assert png.startswith(PNG_MAGIC)
                assert Image.open(io.BytesIO(png)).size == (width, height)
            async with http.get(f"{base}{report['outputs']['json']}") as response:
                assert (await response.json())["objects"] == report["objects"]
            found += len(report["objects"])
            for obj in report["objects"]:
                assert obj["label"] in report["vocabulary"]
        assert found, "the pinned thresholds let the tiny detector find something"

    _serve(_engine(models), PhotoSettings(lighting=PINNED), check)


def test_bad_requests_get_400_and_oversized_ones_413(models: Models) -> None:
    good = _encoded(photo("chelsea", 160, 120), "PNG")
    noisy = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    big_body = _encoded(noisy, "PNG")  # ~480 KB
    many_pixels = _encoded(np.zeros((300, 300, 3), dtype=np.uint8), "PNG")  # small file, 90 kpx
    assert len(big_body) > 200_000 > len(many_pixels)

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        cases = [
            (_form(b"this is not an image at all" * 10, words="cat"), 400, "not a photo"),
            (_form(good[: len(good) // 2], words="cat"), 400, "cannot be used"),
            (_form(None, words="cat"), 400, "no photo"),
            (_form(good, theme="dinosaurs"), 400, "no theme called"),
            (_form(good, words="!!! ..."), 400, "vocabulary is empty"),
            (_form(good), 400, "vocabulary is empty"),
            (_form(good, words="cat", theme="fruit"), 400, "either words or a theme"),
            (_form(good, words="cat", mode="sideways"), 400, "unknown mode"),
            (_form(big_body, words="cat"), 413, "larger than"),
            (_form(many_pixels, words="cat"), 413, "megapixels"),
        ]
        for form, expected, text in cases:
            status, body, _headers = await _post(http, base, form)
            assert (status, text in body["error"]) == (expected, True), body
        async with http.post(f"{base}/api/segment", json={"words": "cat"}) as response:
            assert response.status == 400
        missing = "/api/segment/" + "0" * 32 + "/overlay.png"
        async with http.get(f"{base}{missing}") as response:
            assert response.status == 404

    _serve(_engine(models), PhotoSettings(max_body_bytes=200_000, max_pixels=50_000), check)


def test_only_jpeg_png_and_webp_are_accepted_by_their_bytes(models: Models) -> None:
    pixels = photo("chelsea", 64, 48)
    gif, bmp, tiff = (_encoded(pixels, kind) for kind in ("GIF", "BMP", "TIFF"))
    refused = [  # (what the attacker sends, the name it claims, a word of the reason)
        (gif, "cat.jpg", "GIF"),
        (bmp, "cat.png", "BMP"),
        (tiff, "cat.webp", "TIFF"),
        (b"%PDF-1.7\n" + b"0" * 200, "cat.jpg", "PDF"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "c.png",
            "SVG",
        ),
        (b"<!doctype html><p>hello</p>", "cat.jpg", "HTML"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100, "cat.jpg", "HEIC"),
        (b"PK\x03\x04" + b"\x00" * 100, "cat.png", "zip"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 100, "cat.webp", "not a photo"),
        (b"\x00" * 300, "cat.jpg", "not a photo"),
    ]

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        for data, filename, reason in refused:
            status, body, _headers = await _post(http, base, _form(data, filename, words="cat"))
            assert status == 400, (filename, reason, body)
            assert reason in body["error"] and "JPEG, PNG or WebP" in body["error"], body
            assert len(body["error"]) < 80  # short, for a person
        # a JPEG whose name and declared type say GIF is a JPEG: told by its bytes
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field(
            "image", _encoded(pixels, "JPEG"), filename="cat.gif", content_type="image/gif"
        )
        form.add_field("words", "cat")
        status, report, _headers = await _post(http, base, form)
        assert status == 200, report
        assert report["image"]["width"] == 64 and report["image"]["height"] == 48

    _serve(_engine(models), PhotoSettings(lighting=PINNED), check)


def test_mode_everything_only_where_segment_image_has_it(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`segment_image` takes mode="everything", so the API serves it: the point grid makes the
    masks (its stage is timed), no two share a pixel, every object is named from the words or
    as the fallback, and no words at all is fine. Served a `segment_image` without the mode,
    the API refuses "everything" with a 400 and still finds."""
    good = _encoded(photo("chelsea", 160, 120), "JPEG")
    # random weights predict low IoU and stability: let the grid's masks through (and keep the
    # grid small), as `segment --mode everything` lets its options do
    from inference.segmentation import everything

    grid = everything.segment_everything
    lenient = everything.EverythingSettings(
        points_per_side=4, iou_threshold=0.0, stability_threshold=0.0
    )

    def lenient_grid(*args: Any, **kwargs: Any) -> Any:
        return grid(*args, **(kwargs | {"settings": lenient}))

    monkeypatch.setattr(everything, "segment_everything", lenient_grid)

    async def masks_of(http: aiohttp.ClientSession, base: str, report: Any) -> np.ndarray:
        async with http.get(f"{base}{report['masks_url']}") as response:
            assert response.status == 200
            return np.asarray(Image.open(io.BytesIO(await response.read())))

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        form = _form(good, words="cat", mode="everything")
        status, everything, _headers = await _post(http, base, form)
        assert status == 200, everything
        assert "segment_everything" in everything["timings_ms"]
        assert everything["objects"], "the point grid finds something even with random weights"
        assert {o["label"] for o in everything["objects"]} <= {"cat", FALLBACK_LABEL}
        label_map = await masks_of(http, base, everything)
        for obj in everything["objects"]:  # disjoint masks: each shows whole in the label map
            assert int((label_map == obj["mask_value"]).sum()) == obj["mask_area"], obj

        status, unnamed, _headers = await _post(http, base, _form(good, mode="everything"))
        assert status == 200, unnamed
        assert unnamed["vocabulary"] == []
        assert {o["label"] for o in unnamed["objects"]} == {FALLBACK_LABEL}

        status, found, _headers = await _post(http, base, _form(good, words="cat", mode="find"))
        assert status == 200, found
        assert "detect" in found["timings_ms"] and "segment_everything" not in found["timings_ms"]

        # an older segment_image, without the mode: "everything" is refused, "find" works
        from inference.still import grounded_segmentation

        current = grounded_segmentation.segment_image

        def without_mode(
            models: Models, frame: Any, vocabulary: Any, lighting: Any = None, timer: Any = None
        ) -> Any:
            return current(models, frame, vocabulary, lighting, timer)

        monkeypatch.setattr(grounded_segmentation, "segment_image", without_mode)
        form = _form(good, words="cat", mode="everything")
        status, body, _headers = await _post(http, base, form)
        assert (status, body["error"]) == (400, "mode everything is not available")
        status, body, _headers = await _post(http, base, _form(good, words="cat", mode="find"))
        assert status == 200, body

    _serve(_engine(models), PhotoSettings(lighting=PINNED), check)


def test_a_full_queue_gets_503_with_retry_after(models: Models) -> None:
    good = _encoded(photo("coffee", 160, 120), "JPEG")

    async def check(http: aiohttp.ClientSession, base: str, app: Any) -> None:
        service = app[PHOTO_KEY]
        service.model_lock.acquire()
        try:
            first = asyncio.create_task(_post(http, base, _form(good, words="cup")))
            deadline = time.monotonic() + 60  # generous: only a broken queue count waits this long
            while service.pending < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            status, body, headers = await _post(http, base, _form(good, words="cup"))
            assert status == 503 and "busy" in body["error"]
            assert headers["Retry-After"] == "7"
        finally:
            service.model_lock.release()
        status, body, _headers = await first
        assert status == 200, body
        assert service.pending == 0

    _serve(_engine(models), PhotoSettings(max_pending=1, retry_after_s=7), check)


def test_results_are_evicted_least_recently_used_first(models: Models) -> None:
    good = _encoded(photo("coffee", 160, 120), "JPEG")

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        _s, first, _h = await _post(http, base, _form(good, words="cup"))
        _s, second, _h = await _post(http, base, _form(good, words="cup"))
        async with http.get(f"{base}{first['overlay_url']}") as response:
            assert response.status == 404
        async with http.get(f"{base}{second['masks_url']}") as response:
            assert response.status == 200

    _serve(_engine(models), PhotoSettings(max_results=1), check)


def test_an_engine_without_models_gets_503() -> None:
    good = _encoded(photo("coffee", 160, 120), "JPEG")

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        status, body, headers = await _post(http, base, _form(good, words="cup"))
        assert (status, body["error"]) == (503, NEEDS_MODELS)
        assert "Retry-After" in headers

    _serve(FakeEngine(), PhotoSettings(), check)


def test_models_still_loading_get_503_with_retry_after() -> None:
    good = _encoded(photo("coffee", 160, 120), "JPEG")
    release = threading.Event()

    def factory() -> EngineLike:
        release.wait(30)
        return FakeEngine()

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        try:
            status, body, headers = await _post(http, base, _form(good, words="cup"))
            assert (status, headers["Retry-After"]) == (503, "5")
            assert "loading" in body["error"]
        finally:
            release.set()

    _serve(None, PhotoSettings(), check, engine_factory=factory)


def test_a_square_photo_never_waits_for_a_conversion(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live server builds OpenVINO models in the background: a photo of a shape nothing has
    built is answered on torch while its conversion is held, not after it."""
    from inference.detection.random_weights import build_random_detector
    from inference.detection.runtime import ImageSideRunner

    started, release = threading.Event(), threading.Event()

    converters: list[str] = []

    def held_convert(self: ImageSideRunner, *_: Any) -> Any:
        converters.append(threading.current_thread().name)
        started.set()
        if not converters[-1].startswith("openvino-build-"):
            raise RuntimeError("converting in the photo's own thread")  # no wait: fail fast
        assert release.wait(60), "the photo waited for its conversion"
        raise RuntimeError("not converted in this test")  # the build ends, logged

    monkeypatch.setattr(ImageSideRunner, "_convert", held_convert)
    detector = build_random_detector(torch.device("cpu"), tiny=True).with_runtime("openvino")
    detector.runner.background_conversion = True  # as serve sets it
    settings = EngineSettings(max_side=320, lighting=PINNED)
    engine = Engine(Models(detector, models.segmenter), settings)
    square = _encoded(photo("astronaut", 256, 256), "PNG")

    async def check(http: aiohttp.ClientSession, base: str, _: Any) -> None:
        try:
            status, report, _headers = await _post(http, base, _form(square, words="person"))
            assert status == 200, report
            assert report["image"]["width"] == report["image"]["height"] == 256
            # its build began, and is still held: the answer did not wait for it
            assert started.wait(30) and not release.is_set()
            assert [name.split("-")[:2] for name in converters] == [["openvino", "build"]]
        finally:
            release.set()

    _serve(engine, PhotoSettings(), check)
    for thread in threading.enumerate():  # the failed build ends at once once released
        if thread.name.startswith("openvino-build-"):
            thread.join(60)
