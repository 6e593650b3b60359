"""Photos over HTTP: `POST /api/segment` runs still-image Grounded-MobileSAM on one upload and
answers the `segment` CLI's JSON (inference/schemas/segment_result.schema.json) plus
`overlay_url` and `masks_url`; the PNGs (and the JSON) are kept in a bounded in-memory LRU and
served at `GET /api/segment/{id}/overlay.png`, `/masks.png`, `/result.json` (404 once evicted).
`GET /photo` is the upload page (web/photo.html).

Form fields (multipart/form-data): `image`, `words` or `theme`, optional `mode` = "find"
(default) or "everything" (only where `segment_image` takes a `mode`). The image must be JPEG,
PNG or WebP, told by its first bytes (never by its name or declared type, which the sender
chooses); anything else is 400 saying what it looks like.

Limits: body ≤ `max_body_bytes` (413), image ≤ `max_pixels` (413, checked from the header before
decoding), unreadable data, unknown themes and bad words → 400. At most `max_pending` requests
wait or run at once; more get 503 + Retry-After, as does a request before the models are loaded.

Threads and models. The photo work runs in one dedicated thread ("photo"), never on the loop,
and shares the live engine's weights:
  - the segmenter is used only through its stateless calls (`embed`, `segment(embedding=)`),
    which the engine's worker uses too; its encoder runtimes are safe from two threads (torch
    forward under inference_mode; the OpenVINO encoder serialises its infer request under its
    own lock; onnxruntime sessions are thread-safe);
  - the `Detector` is documented as not thread-safe (text and image-side caches, OpenVINO
    compiled models per input size, a Rust tokenizer whose state changes per call) and the
    engine's broker thread owns it. So photos get their own `Detector` over the *same* model
    weights, with a copy of the tokenizer and its own `ImageSideRunner`. Cost: a few MB of
    caches, and with the "openvino" detector runtime a second compiled model per input size.
`model_lock` serialises photo requests (the single thread already does; the lock also guards
the private detector and lets tests hold the models deliberately). A photo request competes
with the live sessions for the CPU while it runs (seconds on 2 cores for real models).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import io
import json
import logging
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from aiohttp import BodyPartReader, web
from PIL import Image, UnidentifiedImageError

from inference.core.frames import DEFAULT_MAX_SIDE, ImageReadError, read_image
from inference.core.timing import StageTimer
from inference.labels.themes import UnknownThemeError, load_theme
from inference.labels.vocabulary import VocabularyError, parse_vocabulary
from inference.lighting.thresholds import LightingSettings
from inference.models import Models
from inference.overlay.renderer import OverlayRenderer
from inference.still import grounded_segmentation
from inference.still.report import png_bytes, render_still, still_report
from stream.webrtc.engine_slot import ENGINE_KEY

if TYPE_CHECKING:
    from inference.detection.detector import Detector
    from inference.models import Models

log = logging.getLogger(__name__)

MODES = ("find", "everything")
NEEDS_MODELS = "photo segmentation needs the models"
ACCEPTED = "send a JPEG, PNG or WebP photo"
# Pillow's decoders for the accepted kinds (its JPEG one also reads multi-picture JPEGs)
PILLOW_FORMATS = ("JPEG", "PNG", "WEBP")
# what other uploads usually are, by their first bytes: named in the refusal, so the person
# knows what was wrong with the file
_OTHER_KINDS = (
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"BM", "a BMP"),
    (b"II*\x00", "a TIFF"),
    (b"MM\x00*", "a TIFF"),
    (b"%PDF", "a PDF"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"PK\x03\x04", "a zip file"),
)


def image_kind(data: bytes) -> str | None:
    """ "jpeg", "png" or "webp" from the first bytes of `data` (never from a file name or a
    declared type, which the sender chooses), else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def refusal(data: bytes) -> str:
    """Why `data` (not JPEG, PNG or WebP) is refused, in a few words."""
    head = data[:64]
    name = next((name for magic, name in _OTHER_KINDS if head.startswith(magic)), None)
    if name is None and head[4:8] == b"ftyp":
        name = (
            "a HEIC or AVIF photo"
            if head[8:12] in (b"heic", b"heix", b"mif1", b"avif")
            else "a video"
        )
    if name is None and head.lstrip().startswith(b"<"):
        name = "text (SVG or HTML)"
    return f"this is {name}: {ACCEPTED}" if name else f"not a photo: {ACCEPTED}"


@dataclass(frozen=True)
class PhotoSettings:
    """Limits of `/api/segment`.

    max_body_bytes    upload size at most (413)
    max_pixels        decoded image size at most (413)
    max_pending       requests waiting or running at once; more get 503 + Retry-After
    max_results       results kept for their PNG URLs (least recently used go first)
    max_result_bytes  bytes of PNGs and JSON kept at most
    max_side          larger images are downscaled to this longest side (the CLI's default)
    retry_after_s     the Retry-After of a 503
    lighting          pinned thresholds / preprocessing (None: from the lighting, as the CLI)
    """

    max_body_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000
    max_pending: int = 2
    max_results: int = 32
    max_result_bytes: int = 64 * 1024 * 1024
    max_side: int = DEFAULT_MAX_SIDE
    retry_after_s: int = 5
    lighting: LightingSettings | None = None

    def __post_init__(self) -> None:
        if self.max_pending < 1 or self.max_results < 1:
            raise ValueError("max_pending and max_results must be at least 1")
        if self.max_body_bytes < 1024 or self.max_pixels < 64:
            raise ValueError("max_body_bytes and max_pixels are too small")


class PhotoError(Exception):
    """A request refused with `status` and a message for the person who sent it."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class _Stored:
    overlay: bytes
    masks: bytes
    report: bytes

    @property
    def size(self) -> int:
        return len(self.overlay) + len(self.masks) + len(self.report)


class ResultStore:
    """The newest results, at most `max_items` and `max_bytes`; the least recently used go."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, _Stored] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, key: str, item: _Stored) -> None:
        self._items[key] = item
        self._bytes += item.size
        while len(self._items) > 1 and (
            len(self._items) > self.max_items or self._bytes > self.max_bytes
        ):
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.size

    def get(self, key: str) -> _Stored | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item


@dataclass(frozen=True)
class _Job:
    data: bytes
    filename: str
    vocabulary: tuple[str, ...]
    mode: str


class PhotoService:
    """The endpoint's state: admission count, the photo thread, the model lock, the results."""

    def __init__(self, app: web.Application, settings: PhotoSettings) -> None:
        self.app = app
        self.settings = settings
        self.results = ResultStore(settings.max_results, settings.max_result_bytes)
        self.model_lock = threading.Lock()
        self.pending = 0
        self.executor: ThreadPoolExecutor | None = None
        self._detector: tuple[Detector, Detector] | None = None  # (engine's, ours)
        self._renderer = OverlayRenderer()

    # -- HTTP --------------------------------------------------------------------------------

    async def segment(self, request: web.Request) -> web.Response:
        try:
            return await self._segment(request)
        except PhotoError as exc:
            headers = {}
            if exc.retry_after_s is not None:
                headers["Retry-After"] = str(exc.retry_after_s)
            return web.json_response({"error": exc.message}, status=exc.status, headers=headers)
        except Exception:
            log.exception("segmenting a photo failed")
            return web.json_response({"error": "segmenting the photo failed"}, status=500)

    async def _segment(self, request: web.Request) -> web.Response:
        settings = self.settings
        models = self._models()
        if self.pending >= settings.max_pending:
            raise PhotoError(
                503, "busy with other photos; try again shortly", settings.retry_after_s
            )
        self.pending += 1
        try:
            job = await self._read_job(request)
            loop = asyncio.get_running_loop()
            if self.executor is None:
                raise PhotoError(503, "the server is shutting down", settings.retry_after_s)
            key = uuid.uuid4().hex
            stored, report = await loop.run_in_executor(self.executor, self._run, models, job, key)
        finally:
            self.pending -= 1
        self.results.add(key, stored)
        return web.json_response(report)

    async def result_file(self, request: web.Request) -> web.Response:
        stored = self.results.get(request.match_info["id"])
        if stored is None:
            raise web.HTTPNotFound(text="no such result (results are kept for a while only)")
        kind = request.match_info["kind"]
        if kind == "result.json":
            return web.Response(body=stored.report, content_type="application/json")
        body = stored.overlay if kind == "overlay.png" else stored.masks
        return web.Response(
            body=body, content_type="image/png", headers={"Cache-Control": "private, max-age=600"}
        )

    def _models(self) -> Models:

        slot = self.app[ENGINE_KEY]
        if slot.engine is None:
            message = "the models are still loading" if slot.error is None else slot.error
            raise PhotoError(503, message, self.settings.retry_after_s)
        models = slot.engine.models
        if models is None:
            raise PhotoError(503, NEEDS_MODELS, self.settings.retry_after_s)
        return models

    async def _read_job(self, request: web.Request) -> _Job:
        limit = self.settings.max_body_bytes
        too_big = PhotoError(413, f"the upload is larger than {limit // (1024 * 1024)} MB")
        if request.content_length is not None and request.content_length > limit:
            raise too_big
        if not request.content_type.startswith("multipart/"):
            raise PhotoError(400, "send the photo as multipart/form-data with an 'image' field")
        fields: dict[str, str] = {}
        image: bytes | None = None
        filename = "upload"
        received = 0
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise PhotoError(400, "nested multipart bodies are not accepted")
                chunks: list[bytes] = []
                while chunk := await part.read_chunk(64 * 1024):
                    received += len(chunk)
                    if received > limit:
                        raise too_big
                    chunks.append(chunk)
                data = b"".join(chunks)
                if part.name == "image":
                    image, filename = data, (part.filename or "upload")[:200]
                elif part.name in ("words", "theme", "mode"):
                    fields[part.name] = data.decode("utf-8", errors="replace")
        except (ValueError, AssertionError) as exc:  # aiohttp's reader: malformed multipart
            raise PhotoError(400, f"the form data is malformed ({exc})") from exc
        if not image:
            raise PhotoError(400, "no photo: send it in the 'image' field")
        if image_kind(image) is None:
            raise PhotoError(400, refusal(image))
        mode = fields.get("mode", "").strip().lower() or "find"
        if mode not in MODES:
            raise PhotoError(400, f"unknown mode {mode[:20]!r}; use 'find' or 'everything'")
        if mode == "everything" and "mode" not in _segment_parameters():
            raise PhotoError(400, "mode everything is not available")
        return _Job(image, filename, self._vocabulary(fields, mode), mode)

    @staticmethod
    def _vocabulary(fields: dict[str, str], mode: str) -> tuple[str, ...]:
        words, theme = fields.get("words", "").strip(), fields.get("theme", "").strip()
        if words and theme:
            raise PhotoError(400, "give either words or a theme, not both")
        if theme:
            try:
                return load_theme(theme).words
            except UnknownThemeError as exc:
                raise PhotoError(400, str(exc) or "unknown theme") from exc
        if not words and mode == "everything":
            return ()
        try:
            return parse_vocabulary(words)
        except VocabularyError as exc:
            raise PhotoError(400, str(exc)) from exc

    # -- the photo thread --------------------------------------------------------------------

    def _run(self, models: Models, job: _Job, key: str) -> tuple[_Stored, dict[str, Any]]:

        timer = StageTimer()
        started = time.perf_counter()
        with timer.stage("load_image"):
            image = self._decode(job.data)
        with self.model_lock:
            photo_models = self._photo_models(models)
            result = self._segment_frame(
                photo_models, image.pixels, job, self.settings.lighting, timer
            )
        return self._report(photo_models, job, key, image, result, timer, started)

    def _decode(self, data: bytes) -> Any:
        """The upload as a `LoadedImage`; the pixel limit is checked from the header first."""
        source = io.BytesIO(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                # only the accepted decoders: a file that passed the sniff but that Pillow
                # would read as something else is refused here, not decoded
                with Image.open(source, formats=PILLOW_FORMATS) as header:
                    width, height = header.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise PhotoError(400, f"not a readable image: {ACCEPTED}") from None
        if width * height > self.settings.max_pixels:
            raise PhotoError(
                413,
                f"the photo is {width}×{height} pixels; at most "
                f"{self.settings.max_pixels / 1e6:g} megapixels are accepted",
            )
        source.seek(0)
        try:
            # Pillow reads file objects as well as paths
            return read_image(cast(Path, source), max_side=self.settings.max_side)
        except ImageReadError as exc:
            reason = str(exc).removeprefix(f"{source}: ")
            raise PhotoError(400, f"the photo cannot be used: {reason}") from exc

    def _photo_models(self, models: Models) -> Models:
        """The engine's segmenter and a detector of our own over the same weights (see the
        module docstring); rebuilt only when the engine's detector changes."""
        from inference.detection.detector import Detector

        shared = models.detector
        if self._detector is None or self._detector[0] is not shared:
            runner = shared.runner
            own = Detector(
                shared.model,
                copy.deepcopy(shared.tokenizer),
                shared.image_processor,
                shared.device,
                shared.settings,
                weights=shared.weights,
                source=shared.source,
                name=shared.name,
                runtime=shared.runtime,
                fp16=runner.fp16,
                cache_dir=runner.cache_dir,
            )
            # a photo of a new shape is answered at once, not after its conversion
            own.runner.background_conversion = runner.background_conversion
            self._detector = (shared, own)
        return Models(self._detector[1], models.segmenter)

    @staticmethod
    def _segment_frame(
        models: Models,
        frame: npt.NDArray[np.uint8],
        job: _Job,
        lighting: LightingSettings | None,
        timer: Any,
    ) -> Any:

        try:
            if job.mode != "find":
                if "mode" not in _segment_parameters():
                    raise PhotoError(400, "mode everything is not available")
                everything: Any = grounded_segmentation.segment_image
                return everything(models, frame, job.vocabulary, lighting, timer, mode=job.mode)
            return grounded_segmentation.segment_image(
                models, frame, job.vocabulary, lighting, timer
            )
        except VocabularyError as exc:  # too long for the detector's text encoder
            raise PhotoError(400, str(exc)) from exc

    def _report(
        self,
        models: Models,
        job: _Job,
        key: str,
        image: Any,
        result: Any,
        timer: Any,
        started: float,
    ) -> tuple[_Stored, dict[str, Any]]:
        """The CLI's JSON (`inference.still.report`) with URLs for outputs."""
        with timer.stage("render"):
            rendered = render_still(self._renderer, image.pixels, result)
        base = f"/api/segment/{key}"
        urls = {
            "overlay": f"{base}/overlay.png",
            "masks": f"{base}/masks.png",
            "json": f"{base}/result.json",
        }
        with timer.stage("write"):
            overlay_png = png_bytes(rendered.overlay, models.random)
            masks_png = png_bytes(rendered.label_map, models.random)
        report = still_report(image, job.filename, job.vocabulary, models, result, rendered, urls)
        report["timings_ms"] = timer.rounded() | {
            "total": round((time.perf_counter() - started) * 1000.0, 1)
        }
        report["overlay_url"], report["masks_url"] = urls["overlay"], urls["masks"]
        stored = _Stored(overlay_png, masks_png, json.dumps(report).encode())
        return stored, report


def _segment_parameters() -> frozenset[str]:

    return frozenset(inspect.signature(grounded_segmentation.segment_image).parameters)


PHOTO_KEY = web.AppKey("photo", PhotoService)


def install_photo_api(
    app: web.Application, settings: PhotoSettings, web_dir: Path | None
) -> PhotoService:
    """Add `/api/segment`, its result URLs and (with a page to serve) `GET /photo`."""
    service = PhotoService(app, settings)
    app[PHOTO_KEY] = service
    app.router.add_post("/api/segment", service.segment)
    app.router.add_get(
        r"/api/segment/{id:[0-9a-f]{32}}/{kind:overlay\.png|masks\.png|result\.json}",
        service.result_file,
    )
    page = web_dir / "photo.html" if web_dir is not None else None
    if page is not None and page.is_file():

        async def photo_page(_: web.Request) -> web.FileResponse:
            return web.FileResponse(page)

        app.router.add_get("/photo", photo_page)

    async def photo_thread(_: web.Application) -> AsyncIterator[None]:
        service.executor = ThreadPoolExecutor(1, thread_name_prefix="photo")
        yield
        executor, service.executor = service.executor, None
        with contextlib.suppress(Exception):
            executor.shutdown(wait=False, cancel_futures=True)

    app.cleanup_ctx.append(photo_thread)
    return service
