"""STUN/TURN configuration (stream/webrtc/ice.py): validation, TURN REST credentials,
`GET /api/ice`, the server's own RTCConfiguration, serve's flags, and one real coturn relay on
loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from stream.app import ServerConfig, create_app
from stream.edge.limits import ServerLimits
from stream.webrtc import ice
from stream.webrtc.ice import IceSettings, browser_configuration, rtc_configuration, server_turn_url
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from tests.support import rtc_client
from tests.support.coturn import SECRET
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving
from visionanything.cli import build_parser
from visionanything.commands.serve_options import ice_from_args

# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"urls": ("http://turn.example.org",)}, "unknown scheme 'http'"),
        ({"urls": ("turn.example.org:3478",)}, "unknown scheme"),
        ({"urls": ("turn:turn.example.org",)}, "need credentials"),
        (
            {"urls": ("turn:t.example.org",), "secret": "x", "username": "u", "password": "p"},
            "not both",
        ),
        ({"urls": ("turn:t.example.org",), "username": "u"}, "both a username and a password"),
        ({"urls": ("turns:t.example.org?transport=udp",), "secret": "x"}, "runs over TCP"),
        ({"urls": ("stun:s.example.org?transport=udp",)}, "take no ?transport="),
        ({"urls": ("turn:t.example.org?transport=sctp",), "secret": "x"}, "malformed"),
        ({"urls": ("stun:s.example.org",), "relay_only": True}, "relay-only needs"),
        ({"urls": ("stun:s.example.org",), "secret": "x"}, "no turn: or turns: server"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        IceSettings(**settings)


def test_no_servers_means_host_candidates_only() -> None:
    settings = IceSettings()
    assert browser_configuration(settings) == {
        "iceServers": [],
        "iceTransportPolicy": "all",
        "videoCodec": "auto",  # the server's --video-codec (stream.webrtc.video_codecs)
    }
    config = rtc_configuration(settings)
    assert config.iceServers == []  # never aiortc's default public STUN server
    assert config.iceTransportPolicy == RTCIceTransportPolicy.ALL


def test_rest_credentials_expire_after_the_ttl_and_verify_with_the_secret() -> None:
    settings = IceSettings(urls=("turn:t.example.org",), secret=SECRET, ttl_s=600)
    now = 1_800_000_000.5
    servers = browser_configuration(settings, now=now)["iceServers"]
    assert len(servers) == 1 and servers[0]["urls"] == ["turn:t.example.org"]
    username, credential = servers[0]["username"], servers[0]["credential"]
    expiry, name = username.split(":")
    assert int(expiry) == 1_800_000_600 and name  # expiry = now + ttl; a pseudonym, not a child
    expected = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected
    other = browser_configuration(settings, now=now)["iceServers"][0]
    assert other["username"] != username  # a fresh pseudonym per request


def test_browser_gets_every_url_and_the_policy() -> None:
    settings = IceSettings(
        urls=("stun:s.example.org", "turns:t.example.org:443", "turn:t.example.org"),
        username="u",
        password="p",
        relay_only=True,
    )
    assert browser_configuration(settings) == {
        "iceServers": [
            {"urls": ["stun:s.example.org"]},
            {
                "urls": ["turns:t.example.org:443", "turn:t.example.org"],
                "username": "u",
                "credential": "p",
            },
        ],
        "iceTransportPolicy": "relay",
        "videoCodec": "auto",
    }


def test_the_server_uses_the_first_stun_and_prefers_turn_over_udp() -> None:
    settings = IceSettings(
        urls=(
            "stun:a.example.org",
            "stun:b.example.org",
            "turns:t.example.org:443",
            "turn:t.example.org:3478?transport=tcp",
            "turn:u.example.org:3478",
            "turn:v.example.org:3478?transport=udp",
        ),
        secret=SECRET,
        relay_only=True,
    )
    config = rtc_configuration(settings, now=1000.0)
    assert config.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert config.iceServers is not None
    stun, turn = config.iceServers
    assert stun.urls == "stun:a.example.org" and stun.username is None
    assert turn.urls == "turn:u.example.org:3478"  # the first turn: over UDP
    assert turn.username is not None and turn.username.startswith("4600:")
    assert ice.server_ignored(settings) == [
        "stun:b.example.org",
        "turns:t.example.org:443",
        "turn:t.example.org:3478?transport=tcp",
        "turn:v.example.org:3478?transport=udp",
    ]
    tcp_only = IceSettings(urls=("turns:t:443", "turn:t:80?transport=tcp"), secret=SECRET)
    chosen = server_turn_url(tcp_only)
    assert chosen is not None and chosen.text == "turn:t:80?transport=tcp"


# -- GET /api/ice --------------------------------------------------------------------------------


async def _get_ice(settings: IceSettings, times: int = 1) -> list[tuple[int, str, Any]]:
    config = ServerConfig(ice=settings, limits=ServerLimits(offers_per_minute=2))
    app = create_app(config, engine=FakeEngine())
    answers = []
    async with serving(app) as base, aiohttp.ClientSession() as http:
        for _ in range(times):
            async with http.get(f"{base}/api/ice") as response:
                answers.append(
                    (response.status, response.headers["Cache-Control"], await response.json())
                )
    return answers


def test_api_ice_static_credentials_not_cached() -> None:
    settings = IceSettings(urls=("turn:127.0.0.1:3478",), username="u", password="p")
    [(status, cache, body)] = asyncio.run(_get_ice(settings))
    assert status == 200
    assert "no-store" in cache
    assert body == {
        "iceServers": [{"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "p"}],
        "iceTransportPolicy": "all",
        "videoCodec": "auto",
    }


def test_api_ice_mints_fresh_rest_credentials_and_is_rate_limited() -> None:
    settings = IceSettings(urls=("turn:127.0.0.1:3478",), secret=SECRET, relay_only=True)
    before = int(time.time())
    answers = asyncio.run(_get_ice(settings, times=3))
    (s1, c1, b1), (s2, _, b2), (s3, _, _) = answers
    assert (s1, s2, s3) == (200, 200, 429)  # offers_per_minute=2 per address
    assert "no-store" in c1
    assert b1["iceTransportPolicy"] == "relay"
    first, second = b1["iceServers"][0], b2["iceServers"][0]
    assert first["username"] != second["username"]
    expiry = int(first["username"].split(":")[0])
    assert before + 3600 <= expiry <= int(time.time()) + 3600
    digest = hmac.new(SECRET.encode(), first["username"].encode(), hashlib.sha1).digest()
    assert first["credential"] == base64.b64encode(digest).decode()


# -- serve's flags -------------------------------------------------------------------------------


def test_serve_flags_build_the_settings(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    args = build_parser().parse_args(
        [
            "serve",
            "--ice-server",
            "stun:s.example.org",
            "--ice-server",
            "turn:t.example.org?transport=tcp",
            "--turn-secret-file",
            str(secret_file),
            "--ice-relay-only",
        ]
    )
    settings = ice_from_args(args, environ={})
    assert settings.urls == ("stun:s.example.org", "turn:t.example.org?transport=tcp")
    assert settings.secret == SECRET and settings.username is None
    assert settings.relay_only

    args = build_parser().parse_args(
        ["serve", "--ice-server", "turn:t.example.org", "--turn-username", "u"]
    )
    static = ice_from_args(args, environ={"VISIONANYTHING_TURN_PASSWORD": "pw"})
    assert (static.username, static.password, static.secret) == ("u", "pw", None)
    with pytest.raises(ValueError, match="need credentials"):
        ice_from_args(build_parser().parse_args(["serve", "--ice-server", "turn:t"]), {})
    # a stray exported secret does not break a LAN server without TURN
    lan = ice_from_args(build_parser().parse_args(["serve"]), {"VISIONANYTHING_TURN_SECRET": "x"})
    assert lan == IceSettings()


@pytest.mark.parametrize("flag", ["--turn-password", "--turn-secret"])
def test_secrets_are_never_accepted_on_argv(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--ice-server", "turn:t", flag, "hunter2"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "not accepted on the command line" in err and f"{flag}-file" in err
    assert "hunter2" not in err


# -- a real TURN relay (coturn) on loopback ------------------------------------------------------


def _connected_to(port: int, protocol: str) -> int:
    """Sockets on this host connected to 127.0.0.1:port over `protocol` (/proc/net/tcp|udp)."""
    count = 0
    for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if remote == f"0100007F:{port:04X}" and state == "01":  # ESTABLISHED (or connected)
            count += 1
    return count


async def _relayed_session(port: int, transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"turn:127.0.0.1:{port}?transport={transport}"
    settings = IceSettings(urls=(url,), secret=SECRET, relay_only=True)
    app = create_app(
        ServerConfig(ice=settings, session=SessionSettings(idle_timeout_s=60)),
        engine=FakeEngine(),
    )
    async with serving(app) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/ice") as response:
            page = await response.json()  # what a page would be given
        [server] = page["iceServers"]
        relay_only = RTCConfiguration(
            iceServers=[RTCIceServer(**server)], iceTransportPolicy=RTCIceTransportPolicy.RELAY
        )
        # the test client, like a page told "relay": only the TURN server, relayed candidates
        monkeypatch.setattr(
            rtc_client, "RTCPeerConnection", lambda _: RTCPeerConnection(relay_only)
        )
        client = Client()
        try:
            offer = await client.offer()
            candidates = [a for a in offer["sdp"].splitlines() if a.startswith("a=candidate")]
            assert candidates and all(" typ relay" in c for c in candidates), candidates
            answer = await client.connect(http, base)
            theirs = [a for a in answer["sdp"].splitlines() if a.startswith("a=candidate")]
            assert theirs and all(" typ relay" in c for c in theirs), theirs
            await client.wait_for("hello", timeout=30)
            await client.wait_until(lambda: client.received >= 15, timeout=30)
            assert client.pc.iceConnectionState == "completed"
            # both ends reach coturn over the URL's transport, and over nothing else
            other = "udp" if transport == "tcp" else "tcp"
            assert _connected_to(port, transport) >= 2, transport  # the client and the server
            assert _connected_to(port, other) == 0, other
            # the server says so too: on the stats message's fields and on /metrics
            registry = app[SESSIONS_KEY]
            [session] = list(registry)
            route = session.connection_path()
            assert (route.path, route.transport) == ("relay", transport)
            assert route.codec in ("VP8", "H264")
            async with http.get(f"{base}/metrics") as response:
                metrics = await response.text()
            assert (
                "visionanything_sessions_by_path"
                f'{{path="relay",transport="{transport}"}} 1.0' in metrics
            )
        finally:
            await client.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_video_goes_both_ways_through_a_real_turn_relay(
    coturn: int, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_relayed_session(coturn, transport, monkeypatch))
