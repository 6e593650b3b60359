"""Hardening: security headers on every answer (pages, API, errors), offers refused across
sites, in the wrong media type and beyond the per-address cap, bounded JSON errors, `/readyz`
without paths, and `serve`'s listening address and own certificate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.edge.limits import ServerLimits
from stream.edge.security import (
    MAX_ERROR_CHARS,
    content_security_policy,
    inline_styles,
    redact,
)
from stream.edge.tls import ensure_certificate
from stream.photos.library_settings import PhotoLibrarySettings
from stream.signalling import AddressCounter
from stream.webrtc.engine_slot import ENGINE_KEY
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving
from visionanything.cli import build_parser
from visionanything.commands.serve_hints import listen_host, own_certificate_context

REPO = Path(__file__).resolve().parents[3]
EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _run(coro: Any, timeout: float = 45) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


def _config(tmp_path: Path, **fields: Any) -> ServerConfig:
    return ServerConfig(
        classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"),
        photo_library=PhotoLibrarySettings(directory=tmp_path / "snaps"),
        **fields,
    )


def _assert_hardened(headers: Any, policy: str, no_store: bool) -> None:
    assert headers["Content-Security-Policy"] == policy
    for name, value in EVERY_ANSWER.items():
        assert headers[name] == value, name
    if no_store:
        assert headers["Cache-Control"] == "no-store"


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    (web_dir / "index.html").write_text(
        '<!doctype html><title>x</title><script type="module" src="app.js"></script>'
    )
    (web_dir / "app.js").write_text("console.log('hi');\n")
    policy = content_security_policy(web_dir)
    assert policy == (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    )

    async def scenario() -> None:
        app = create_app(_config(tmp_path, web_dir=web_dir), engine=FakeEngine(delay_s=0.05))
        async with serving(app) as base, aiohttp.ClientSession() as http:
            for path, status, no_store in [
                ("/", 200, False),  # the page
                ("/app.js", 200, False),  # a static file
                ("/readyz", 200, True),
                ("/metrics", 200, True),
                ("/healthz", 200, False),
                ("/api/me", 401, True),  # an API error raised as an HTTPException
                ("/api/nothing-here", 404, True),
                ("/no-such-page", 404, False),
            ]:
                async with http.get(f"{base}{path}") as r:
                    assert r.status == status, path
                    _assert_hardened(r.headers, policy, no_store)
            # an API answer (refused offer) and a method the route does not take
            async with http.post(f"{base}/api/offer", data=b"{}") as r:
                assert r.status == 415
                _assert_hardened(r.headers, policy, True)
            async with http.delete(f"{base}/api/offer") as r:
                assert r.status == 405
                _assert_hardened(r.headers, policy, True)

    _run(scenario())


def test_the_shipped_pages_inline_styles_are_allowed_by_hash_only() -> None:
    elements, attributes = inline_styles(REPO / "web")
    policy = content_security_policy(REPO / "web")
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["script-src"] == "'self'"
    hashes = [s for s in directives["style-src"].split() if s.startswith("'sha256-")]
    assert len(hashes) == len(set(elements) | set(attributes))
    assert ("'unsafe-hashes'" in directives["style-src"]) == bool(attributes)
    # today the shipped pages keep every style in CSS files: styles from 'self' only
    assert elements == [] and attributes == [] and directives["style-src"] == "'self'"
    # no page needs inline scripts or another origin
    for page in (REPO / "web").glob("*.html"):
        text = page.read_text()
        for tag in text.split("<script")[1:]:
            assert "src=" in tag.split(">", 1)[0], page.name
        assert "http://" not in text and "https://" not in text, page.name


def test_offers_from_another_site_or_not_json_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        app = create_app(_config(tmp_path), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            offer = json.dumps({"sdp": "v=0", "type": "offer"})
            headers = {"Content-Type": "application/json", "Origin": "https://evil.example"}
            async with http.post(f"{base}/api/offer", data=offer, headers=headers) as r:
                assert r.status == 403, await r.text()
                assert "cross-site" in (await r.json())["error"]
            # same host, other port: another origin too
            port = int(base.rsplit(":", 1)[1])
            headers["Origin"] = f"http://127.0.0.1:{port + 1}"
            async with http.post(f"{base}/api/offer", data=offer, headers=headers) as r:
                assert r.status == 403
            async with http.post(
                f"{base}/api/offer", data={"sdp": "v=0", "type": "offer"}
            ) as r:  # form-encoded
                assert r.status == 415
                assert "application/json" in (await r.json())["error"]
            # a same-origin JSON offer gets past these checks (and fails on its SDP)
            headers["Origin"] = base
            async with http.post(f"{base}/api/offer", data=offer, headers=headers) as r:
                assert r.status == 400 and "SDP" in (await r.json())["error"]
            assert len(app[SESSIONS_KEY]) == 0

    _run(scenario())


def test_one_address_opens_at_most_its_share_of_sessions(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        config = _config(
            tmp_path, limits=ServerLimits(max_sessions=4, sessions_per_address=1, retry_after_s=3)
        )
        app = create_app(config, engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            first, second, third = Client(), Client(), Client()
            try:
                await first.connect(http, base)
                await first.wait_until(lambda: first.received >= 3, timeout=20)
                async with http.post(f"{base}/api/offer", json=await second.offer()) as r:
                    assert r.status == 429
                    assert r.headers["Retry-After"] == "3"
                    assert "too many phones from this address" in (await r.json())["error"]
                assert len(app[SESSIONS_KEY]) == 1
                # the session's log name is a pseudonym, not the address
                registry = app[SESSIONS_KEY]
                (session,) = list(registry)
                assert session.peer.startswith("client-") and "127.0.0.1" not in session.peer
                await first.close()
                await first.wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=10)
                await third.connect(http, base)  # the slot is free again
            finally:
                for client in (first, second, third):
                    await client.close()

    _run(scenario())


def test_address_counter_counts_open_connections_per_address() -> None:
    counter = AddressCounter(2)
    counter.add("a", "s1")
    assert not counter.full("a")
    counter.add("a", "s2")
    assert counter.full("a") and not counter.full("b")
    counter.remove("a", "s1")
    counter.remove("a", "s1")  # idempotent
    assert counter.count("a") == 1 and not counter.full("a")
    counter.remove("a", "s2")
    assert counter.count("a") == 0
    unlimited = AddressCounter(0)
    for i in range(50):
        unlimited.add("a", str(i))
    assert not unlimited.full("a")


def test_readyz_names_files_not_paths(tmp_path: Path) -> None:
    def factory() -> FakeEngine:
        raise FileNotFoundError(
            "[Errno 2] No such file or directory: '/home/teacher/models/weights/mobile_sam.pt'"
        )

    async def scenario() -> None:
        app = create_app(_config(tmp_path), engine_factory=factory)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            for _ in range(100):
                if app[ENGINE_KEY].error is not None:
                    break
                await asyncio.sleep(0.05)
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 503
                reason = (await r.json())["reason"]
            assert "mobile_sam.pt" in reason and "/home" not in reason and "weights/" not in reason
            headers = {"Content-Type": "application/json"}
            async with http.post(f"{base}/api/offer", data=b"{}", headers=headers) as r:
                assert r.status in (400, 503)
                assert "/home" not in await r.text()

    _run(scenario())


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("No such file: '/srv/va/weights/dino.safetensors'", "No such file: 'dino.safetensors'"),
        (r"C:\Users\ann\w\x.bin missing", "x.bin missing"),
        ("cannot read ~/secret/key.pem.", "cannot read key.pem."),
        ("load weights/dino/model.safetensors failed", "load model.safetensors failed"),
        ("redis down (redis://:hunter2@db:6379/0)", "redis down (redis://***@db:6379/0)"),
        ("detection broker unreachable", "detection broker unreachable"),
        ("starting: loading models", "starting: loading models"),
    ],
)
def test_redact(message: str, expected: str) -> None:
    assert redact(message) == expected


def test_json_errors_are_bounded(tmp_path: Path) -> None:
    async def long_error(_: web.Request) -> web.Response:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "x" * 5000}), content_type="application/json"
        )

    async def long_answer(_: web.Request) -> web.Response:
        return web.json_response({"error": "y" * 5000, "code": "c"}, status=409)

    async def scenario() -> None:
        app = create_app(_config(tmp_path), engine=FakeEngine(delay_s=0.05))
        app.router.add_get("/api/long-error", long_error)
        app.router.add_get("/api/long-answer", long_answer)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            for path, code in (("/api/long-error", 400), ("/api/long-answer", 409)):
                async with http.get(f"{base}{path}") as r:
                    assert r.status == code
                    body = await r.json()
                    assert len(body["error"]) == MAX_ERROR_CHARS
                    assert r.headers["Cache-Control"] == "no-store"
            async with http.get(f"{base}/api/long-answer") as r:
                assert (await r.json())["code"] == "c"

    _run(scenario())


def test_http_listens_on_localhost_unless_told_otherwise() -> None:
    parse = build_parser().parse_args
    args = parse(["serve", "--http"])
    assert args.host is None and listen_host(args.host, args.http) == "127.0.0.1"
    args = parse(["serve"])
    assert listen_host(args.host, args.http) == "0.0.0.0"  # phones need the LAN
    args = parse(["serve", "--http", "--host", "0.0.0.0"])
    assert listen_host(args.host, args.http) == "0.0.0.0"
    args = parse(["serve", "--host", "192.168.1.5"])
    assert listen_host(args.host, args.http) == "192.168.1.5"
    args = parse(["serve", "--cert", "c.pem", "--key", "k.pem", "--sessions-per-address", "5"])
    assert (args.cert, args.key, args.sessions_per_address) == (
        Path("c.pem"),
        Path("k.pem"),
        5,
    )
    assert parse(["serve"]).screens_per_address == ServerLimits().viewers_per_address == 8
    assert parse(["serve", "--screens-per-address", "0"]).screens_per_address == 0


def test_own_certificate_and_clear_errors(tmp_path: Path) -> None:
    ours = ensure_certificate(tmp_path / "ours", ["va.school.example"])
    other = ensure_certificate(tmp_path / "other", ["localhost"])
    context = own_certificate_context(ours.cert, ours.key)
    assert context.minimum_version.name == "TLSv1_2"

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    for cert, key, words in [
        (ours.cert, None, "go together"),
        (None, ours.key, "go together"),
        (tmp_path / "missing.pem", ours.key, "no such file"),
        (ours.cert, tmp_path / "missing.pem", "no such file"),
        (junk, ours.key, "not a PEM certificate"),
        (ours.cert, junk, "not a PEM private key"),
        (ours.cert, other.key, "is not the private key of"),
    ]:
        with pytest.raises(ValueError, match=words):
            own_certificate_context(cert, key)


def test_serve_refuses_bad_certificate_options_with_a_usage_error(tmp_path: Path) -> None:
    from visionanything.commands.serve import EXIT_USAGE, run

    ours = ensure_certificate(tmp_path / "ours", ["localhost"])
    parse = build_parser().parse_args
    common = ["--teachers-file", str(tmp_path / "t.json"), "--models", "random"]
    for argv in (
        ["serve", "--http", "--cert", str(ours.cert), "--key", str(ours.key)],
        ["serve", "--cert", str(ours.cert)],
        ["serve", "--cert", str(ours.cert), "--key", str(tmp_path / "nope.pem")],
    ):
        assert run(parse([*argv, *common])) == EXIT_USAGE, argv
