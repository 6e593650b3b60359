"""Hardening that applies to every answer: security headers, bounded JSON errors, and the
small helpers the handlers share (redacting paths and credentials from messages).

Headers, on every response (pages, API answers, static files, errors and 404s alike):
  Content-Security-Policy      same origin only; the pages' few inline <style> blocks and
                               style="" attributes are allowed by their sha256 hash
  X-Content-Type-Options       nosniff
  Referrer-Policy              no-referrer
  Permissions-Policy           the camera for this origin only; no microphone, no location
  Cross-Origin-Opener-Policy   same-origin
  Cache-Control                no-store on /api/*, /readyz and /metrics (unless the handler
                               chose a policy itself, e.g. a private cache for a photo result)

`install` adds a middleware (headers on handler answers and raised HTTP errors, JSON error
messages capped at `MAX_ERROR_CHARS`) and an `on_response_prepare` hook that sets the same
headers on anything else aiohttp answers by itself (e.g. a 500 for an unhandled exception).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300

BASE_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "media-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],
    "style-src": ["'self'"],
    "script-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
}

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NO_STORE_PREFIXES = ("/api/",)
NO_STORE_PATHS = frozenset({"/readyz", "/metrics"})

_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(
    r"""\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)


def content_security_policy(web_dir: Path | None) -> str:
    """The policy for the pages in `web_dir`: `BASE_POLICY`, plus a hash for each inline
    <style> element and style="" attribute the HTML files contain (style attributes need
    'unsafe-hashes' as well; browsers without it ignore those attributes, nothing else)."""
    elements, attributes = inline_styles(web_dir)
    policy = {name: list(sources) for name, sources in BASE_POLICY.items()}
    if attributes:
        policy["style-src"].append("'unsafe-hashes'")
    policy["style-src"] += sorted({_sha256(text) for text in (*elements, *attributes)})
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


def inline_styles(web_dir: Path | None) -> tuple[list[str], list[str]]:
    """The texts of inline <style> elements and of style="" attributes in web_dir/*.html."""
    elements: list[str] = []
    attributes: list[str] = []
    if web_dir is None or not web_dir.is_dir():
        return elements, attributes
    for page in sorted(web_dir.glob("*.html")):
        try:
            text = page.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s for its inline styles: %s", page.name, exc)
            continue
        elements += _STYLE_ELEMENT.findall(text)
        for double, single in _STYLE_ATTRIBUTE.findall(text):
            attributes.append(html.unescape(double or single))
    return elements, attributes


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def apply_headers(path: str, response: web.StreamResponse, policy: str) -> None:
    """Set the security headers on a response whose headers are not sent yet (a value the
    handler chose is kept)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", policy)
    for name, value in STATIC_HEADERS.items():
        headers.setdefault(name, value)
    if path.startswith(NO_STORE_PREFIXES) or path in NO_STORE_PATHS:
        headers.setdefault("Cache-Control", "no-store")


def cap_error(response: web.StreamResponse) -> None:
    """Shorten the message of a JSON error answer {"error": "..."} to `MAX_ERROR_CHARS`."""
    if not isinstance(response, web.Response) or response.status < 400:
        return
    if response.content_type != "application/json" or response.prepared:
        return
    body = response.body
    if not isinstance(body, bytes) or len(body) <= MAX_ERROR_CHARS:
        return
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return
    if not isinstance(data, dict) or not isinstance(data.get("error"), str):
        return
    if len(data["error"]) <= MAX_ERROR_CHARS:
        return
    data["error"] = bounded(data["error"])
    response.body = json.dumps(data).encode()


def bounded(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`message`, cut to `limit` characters (the cut marked with an ellipsis)."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


# absolute or home-relative paths (POSIX or Windows), or relative ones naming a file
_PATH = re.compile(
    r"""(?<![\w.:/\\~-])"""
    r"""(?:[A-Za-z]:[\\/]|~[\\/]|\.{1,2}[\\/]|[\\/])[^\s'"<>|]*"""
    r"""|(?<![\w.:/\\~-])(?:[\w.-]+[\\/])+[\w-]+\.\w{1,16}\b"""
)
_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]*@")


def redact(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`message` without filesystem paths (each reduced to its file name) or credentials in
    URLs (redis://user:secret@host → redis://***@host), at most `limit` characters."""
    message = _URL_CREDENTIALS.sub(r"\1***@", message)
    message = _PATH.sub(_file_name, message)
    return bounded(message, limit)


def _file_name(match: re.Match[str]) -> str:
    path = match.group(0)
    trailing = ""
    while path and path[-1] in ".,;:)]}":  # punctuation after the path, not part of it
        trailing = path[-1] + trailing
        path = path[:-1]
    name = re.split(r"[\\/]", path.rstrip("\\/"))[-1]
    return (name or "…") + trailing


def security_middleware(policy: str) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            cap_error(exc)
            apply_headers(request.path, exc, policy)
            raise
        if not response.prepared:  # a streamed answer sent its headers already
            cap_error(response)
            apply_headers(request.path, response, policy)
        return response

    return middleware


def install(app: web.Application, web_dir: Path | None) -> str:
    """Add the middleware and the prepare hook to `app`; returns the policy in use."""
    policy = content_security_policy(web_dir)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        apply_headers(request.path, response, policy)

    app.middlewares.append(security_middleware(policy))
    app.on_response_prepare.append(on_prepare)
    return policy


def same_host(origin: str, host: str | None) -> bool:
    """Whether Origin's host:port is the Host header's (a port left out means the scheme's)."""
    if host is None:
        return False
    try:
        origin_url = urlsplit(origin)
        host_url = urlsplit(f"//{host}")
        origin_port = origin_url.port or _default_port(origin_url.scheme)
        host_port = host_url.port or _default_port(origin_url.scheme)
    except ValueError:  # a malformed port
        return False
    return (
        origin_url.hostname is not None
        and origin_url.hostname == host_url.hostname
        and origin_port == host_port
    )


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)
