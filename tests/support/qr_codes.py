"""Reading the QR codes the server draws (room join links), for tests."""

from __future__ import annotations

import cv2
import numpy as np


def decode_qr(png: bytes) -> str:
    """The text a QR code PNG says ("" when none is found)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the QR code is not a PNG"
    # a wider light margin than the PNG's own (2 modules) helps the detector find the code
    image = cv2.copyMakeBorder(image, 32, 32, 32, 32, cv2.BORDER_CONSTANT, value=255)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(decoded)
