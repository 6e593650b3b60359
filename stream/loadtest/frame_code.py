"""The code each load-test frame carries in a corner: a 16-bit counter and a CRC-8 in blocks that
survive VP8/H.264, so a returned frame is matched to the one sent (latency, order)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import numpy.typing as npt

I420 = npt.NDArray[np.uint8]  # (H * 3 / 2, W): the Y plane, then U and V at half resolution


# -- the frame code ------------------------------------------------------------------------------

COUNTER_BITS = 16
CHECK_BITS = 8
CODE_ROWS = 3  # 24 bits = 3 rows of 8 bits, each bit two blocks side by side
CODE_COLUMNS = 16  # blocks per row
COUNTER_MODULUS = 1 << COUNTER_BITS
BLACK, WHITE = 16, 235  # video-range luma
MIN_CONTRAST = 24.0  # luma levels between the two blocks of a bit, or the strip is unreadable


def code_block(size: tuple[int, int]) -> int:
    """Side in pixels of one code block for frames of (width, height): 1/40 of the shorter side,
    even, at least 8 (12 px at 640×480)."""
    block = max(8, round(min(size) / 40))
    return block + block % 2


def check_code_fits(size: tuple[int, int]) -> None:
    """ValueError unless frames of (width, height) can carry the code strip."""
    width, height = size
    block = code_block(size)
    if width < CODE_COLUMNS * block or height < 2 * CODE_ROWS * block or width % 2 or height % 2:
        raise ValueError(
            f"frames of {width}x{height} cannot carry the frame code: they must be even-sized "
            f"and at least {CODE_COLUMNS * block}x{2 * CODE_ROWS * block}"
        )


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def code_bits(counter: int) -> npt.NDArray[np.bool_]:
    """The 24 bits (MSB first) that encode `counter` modulo 2**16: counter, then its CRC-8."""
    value = counter % COUNTER_MODULUS
    word = (value << CHECK_BITS) | crc8(value.to_bytes(2, "big"))
    total = COUNTER_BITS + CHECK_BITS
    return np.array([(word >> (total - 1 - k)) & 1 for k in range(total)], dtype=bool)


def stamp_code(frame: I420, size: tuple[int, int], counter: int) -> None:
    """Draw `counter`'s code into the bottom-left corner of an I420 frame, in place (grey
    chroma under the strip, so the blocks stay black and white whatever the picture)."""
    width, height = size
    block = code_block(size)
    bits = code_bits(counter).reshape(CODE_ROWS, CODE_COLUMNS // 2)
    pairs = np.empty((CODE_ROWS, CODE_COLUMNS), dtype=np.uint8)
    pairs[:, 0::2] = np.where(bits, WHITE, BLACK)
    pairs[:, 1::2] = np.where(bits, BLACK, WHITE)
    pattern = np.repeat(np.repeat(pairs, block, axis=0), block, axis=1)
    top = height - CODE_ROWS * block
    frame[top:height, : CODE_COLUMNS * block] = pattern
    flat = frame.reshape(-1)
    quarter = width * height // 4
    for start in (width * height, width * height + quarter):  # U, then V
        chroma = flat[start : start + quarter].reshape(height // 2, width // 2)
        chroma[top // 2 :, : CODE_COLUMNS * block // 2] = 128


def frame_luma(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The Y plane of a decoded frame as (H, W) uint8, without a copy for planar YUV."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12"):
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8)[: plane.line_size * frame.height]
        return rows.reshape(frame.height, plane.line_size)[:, : frame.width]
    return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)


def read_code(luma: npt.NDArray[np.uint8], sent_size: tuple[int, int]) -> int | None:
    """The counter (mod 2**16) in a returned frame's luma, or None when the strip is unreadable.

    `sent_size` is the (width, height) the frame was sent at; a server that returns the video
    at another size scales the strip with it.
    """
    sent_width, sent_height = sent_size
    block = code_block(sent_size)
    height, width = luma.shape
    sx, sy = width / sent_width, height / sent_height
    strip_w, strip_h = CODE_COLUMNS * block, CODE_ROWS * block
    region = luma[round((sent_height - strip_h) * sy) : height, : round(strip_w * sx)]
    if region.shape != (strip_h, strip_w):
        if min(region.shape) < 4:
            return None
        region = np.asarray(
            cv2.resize(region, (strip_w, strip_h), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    inset = block // 4  # block edges blur in compression: read each block's middle
    blocks = np.asarray(region, dtype=np.float32).reshape(CODE_ROWS, block, CODE_COLUMNS, block)
    means = blocks[:, inset : block - inset, :, inset : block - inset].mean(axis=(1, 3))
    contrast = means[:, 0::2] - means[:, 1::2]
    if float(np.abs(contrast).min()) < MIN_CONTRAST:
        return None
    word = 0
    for bit in (contrast > 0).reshape(-1):
        word = (word << 1) | int(bit)
    counter, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    return counter if crc8(counter.to_bytes(2, "big")) == check else None
