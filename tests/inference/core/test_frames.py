"""Reading still images: formats, EXIF rotation, downscaling, and every way a file can be bad."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from inference.core.frames import ImageReadError, fit_within, read_image


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_common_formats_decode_to_rgb(tmp_path: Path, suffix: str) -> None:
    cat = data.chelsea()
    path = tmp_path / f"cat{suffix}"
    Image.fromarray(cat).save(path, quality=95)
    loaded = read_image(path)
    assert loaded.pixels.shape == cat.shape and loaded.pixels.dtype == np.uint8
    assert loaded.scale == 1.0 and loaded.original_size == (300, 451)
    # lossy formats stay close to the source; PNG is exact
    tolerance = 0 if suffix == ".png" else 12
    assert np.abs(loaded.pixels.astype(int) - cat.astype(int)).mean() <= tolerance


def test_grayscale_and_alpha_become_rgb(tmp_path: Path) -> None:
    Image.fromarray(data.camera()).save(tmp_path / "gray.png")
    Image.fromarray(data.chelsea()).convert("RGBA").save(tmp_path / "alpha.png")
    assert read_image(tmp_path / "gray.png").pixels.shape == (512, 512, 3)
    assert read_image(tmp_path / "alpha.png").pixels.shape == (300, 451, 3)


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    image = Image.fromarray(data.chelsea())
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    image.save(tmp_path / "phone.jpg", exif=exif)
    loaded = read_image(tmp_path / "phone.jpg")
    assert loaded.pixels.shape == (451, 300, 3)
    assert loaded.original_size == (451, 300)


def test_very_large_images_are_downscaled(tmp_path: Path) -> None:
    big = np.asarray(Image.fromarray(data.astronaut()).resize((3000, 2000)))
    Image.fromarray(big).save(tmp_path / "big.jpg")
    loaded = read_image(tmp_path / "big.jpg", max_side=1024)
    assert max(loaded.pixels.shape[:2]) == 1024
    assert loaded.original_size == (2000, 3000)
    assert loaded.scale == pytest.approx(1024 / 3000, rel=0.01)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height (no pixel data needed to be rejected)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "not a readable image"),
        ("notes.jpg", b"this is a shopping list, not a photo", "not a readable image"),
        ("huge.png", _png_header_only(100_000, 100_000), "too large"),
        ("truncated.png", None, "damaged"),
        ("tiny.png", "tiny", "too small"),
    ],
)
def test_bad_files_give_clear_errors(
    tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / name
    if content is None:
        Image.fromarray(data.chelsea()).save(path)
        path.write_bytes(path.read_bytes()[:2000])
    elif content == "tiny":
        Image.fromarray(np.zeros((3, 500, 3), np.uint8)).save(path)
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as caught:
        read_image(path)
    assert str(path) in str(caught.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


@pytest.mark.parametrize(
    ("shape", "max_side", "expected"),
    [((100, 200, 3), 400, (100, 200, 3)), ((1000, 2000, 3), 500, (250, 500, 3))],
)
def test_fit_within(shape: tuple[int, int, int], max_side: int, expected: tuple[int, ...]) -> None:
    assert fit_within(np.zeros(shape, np.uint8), max_side).shape == expected
