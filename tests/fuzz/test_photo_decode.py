"""Fuzzing the photo API's upload decoding (`PhotoService._decode`, what `POST /api/segment`
runs on the image bytes): random bytes and damaged real PNG / JPEG / WebP photos get only the
documented 400 (unreadable) or 413 (too many pixels), never another exception."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from inference.core.frames import MIN_SIDE
from stream.photos.photo_api import PhotoError, PhotoService, PhotoSettings
from tests.fuzz.fuzzing import count, fuzz_settings
from tests.fuzz.strategies import mutated_bytes
from tests.support.rtc_client import photo

MAX_SIDE = 96
MAX_PIXELS = 4_000_000


def _encode(name: str, fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo(name, *size)).save(buffer, format=fmt)
    return buffer.getvalue()


# Small real photos (scikit-image), so each decode takes well under a millisecond.
PHOTOS = {
    f"{name}.{fmt.lower()}": _encode(name, fmt, (64, 48))
    for name in ("chelsea", "coffee")
    for fmt in ("PNG", "JPEG", "WEBP")
}


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming `width` × `height`, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


@pytest.fixture(scope="module")
def service() -> PhotoService:
    return PhotoService(web.Application(), PhotoSettings(max_pixels=MAX_PIXELS, max_side=MAX_SIDE))


def check_upload(service: PhotoService, data: bytes) -> None:
    try:
        image = service._decode(data)
    except PhotoError as exc:
        assert exc.status in (400, 413), (exc.status, exc.message)
        assert exc.message
        return
    pixels = image.pixels
    assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8
    assert pixels.ndim == 3 and pixels.shape[2] == 3
    # at least MIN_SIDE before the downscale; a very long strip can end up thinner after it
    assert min(pixels.shape[:2]) >= 1 and max(pixels.shape[:2]) <= MAX_SIDE
    assert min(image.original_size) >= MIN_SIDE


@fuzz_settings()
@given(
    st.binary(max_size=2048)
    | st.sampled_from(
        [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
    ).flatmap(lambda magic: st.binary(max_size=1024).map(lambda rest: magic + rest))
)
def test_random_bytes(service: PhotoService, data: bytes) -> None:
    count("photo decode: random bytes")
    check_upload(service, data)


@fuzz_settings()
@given(st.sampled_from(sorted(PHOTOS)).flatmap(lambda name: mutated_bytes(PHOTOS[name], 6)))
def test_damaged_real_photos(service: PhotoService, data: bytes) -> None:
    count("photo decode: damaged photos")
    check_upload(service, data)


@fuzz_settings(scale=0.25)
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.binary(max_size=64))
def test_headers_claiming_any_size(
    service: PhotoService, width: int, height: int, rest: bytes
) -> None:
    count("photo decode: claimed sizes")
    check_upload(service, _png_header(width, height) + rest)


def test_the_real_photos_decode(service: PhotoService) -> None:
    for name, data in PHOTOS.items():
        image = service._decode(data)
        assert image.pixels.shape == (48, 64, 3), name
