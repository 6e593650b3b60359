#!/usr/bin/env python3
"""The image's HEALTHCHECK: GET a URL on this container, healthy when it answers 200.

    va-healthcheck [URL]     (default https://127.0.0.1:8443/healthz, serve's default)

The media server's certificate is self-signed (generated on first run), so it is not verified:
this only asks whether the process on this container's own loopback answers. The worker has no
/healthz; compose points this at its Prometheus port instead.
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "https://127.0.0.1:8443/healthz"
TIMEOUT_S = 4.0


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as response:
            status = int(response.status)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
