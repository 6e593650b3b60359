"""The self-signed certificate: made once with the right names, reused, renewed when it no
longer fits, private key kept private, and usable for a real HTTPS server."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import stat
from pathlib import Path

import aiohttp
from aiohttp import web

from stream.edge.tls import certificate_hosts, ensure_certificate, server_ssl_context

HOSTS = ["localhost", "127.0.0.1", "192.168.1.23"]


def test_generated_once_with_the_sans_then_reused(tmp_path: Path) -> None:
    cert_dir = tmp_path / ".tls"
    first = ensure_certificate(cert_dir, HOSTS)
    assert first.created
    assert sorted(certificate_hosts(first.cert)) == sorted(HOSTS)
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    pem = first.cert.read_bytes()

    again = ensure_certificate(cert_dir, ["127.0.0.1", "localhost"])  # a subset: still covered
    assert not again.created
    assert again.cert.read_bytes() == pem


def test_renewed_when_the_lan_address_changes_or_it_expires(tmp_path: Path) -> None:
    cert_dir = tmp_path / "certs"
    original = ensure_certificate(cert_dir, HOSTS).cert.read_bytes()
    moved = ensure_certificate(cert_dir, ["localhost", "127.0.0.1", "10.0.0.7"])
    assert moved.created and "10.0.0.7" in certificate_hosts(moved.cert)
    assert moved.cert.read_bytes() != original

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=360)
    renewed = ensure_certificate(cert_dir, ["localhost"], now=later)
    assert renewed.created, "renewed ahead of expiry"


def test_an_unreadable_certificate_is_replaced(tmp_path: Path) -> None:
    cert_dir = tmp_path / "certs"
    paths = ensure_certificate(cert_dir, HOSTS)
    paths.cert.write_text("garbage")
    replaced = ensure_certificate(cert_dir, HOSTS)
    assert replaced.created
    server_ssl_context(replaced)  # loads: key and certificate match


def test_an_https_client_trusting_the_certificate_reaches_the_server(tmp_path: Path) -> None:
    certificate = ensure_certificate(tmp_path, HOSTS)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/healthz", _ok)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(certificate))
        await site.start()
        port = runner.addresses[0][1]
        try:
            trust = ssl.create_default_context(cafile=str(certificate.cert))  # checks the SAN
            async with aiohttp.ClientSession() as http:
                async with http.get(f"https://127.0.0.1:{port}/healthz", ssl=trust) as r:
                    assert r.status == 200
                async with http.get(f"https://localhost:{port}/healthz", ssl=trust) as r:
                    assert r.status == 200
        finally:
            await runner.cleanup()

    asyncio.run(asyncio.wait_for(scenario(), 20))


async def _ok(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
