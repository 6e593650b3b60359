"""`visionanything loadtest --relay` (issue 19): the phones take the TURN servers of the
server's GET /api/ice, relay-only, so a run measures the relay; against a real coturn on
loopback the report says the route was "relay udp"; a server without TURN fails clearly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from stream.app import ServerConfig, create_app
from stream.loadtest.peer import ClientFailure
from stream.loadtest.relay import relay_configuration
from stream.webrtc.ice import IceSettings
from tests.support.coturn import SECRET
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from visionanything.cli import main


def test_only_turn_servers_are_kept_and_the_policy_is_relay() -> None:
    config = relay_configuration(
        {
            "iceServers": [
                {"urls": ["stun:s.example.org"]},
                {"urls": ["turn:t.example.org?transport=tcp"], "username": "u", "credential": "p"},
            ],
            "iceTransportPolicy": "all",  # --relay measures the relay whatever the server says
        }
    )
    assert config.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert config.iceServers is not None
    [turn] = config.iceServers
    assert turn.urls == ["turn:t.example.org?transport=tcp"] and turn.credential == "p"
    with pytest.raises(ClientFailure, match="no TURN server"):
        relay_configuration({"iceServers": [{"urls": "stun:s.example.org"}]})


async def _loadtest(config: ServerConfig, argv: list[str]) -> int:
    async with serving(create_app(config, engine=FakeEngine(delay_s=0.2))) as base:
        return await asyncio.to_thread(main, ["loadtest", "--url", base, "--quiet", *argv])


def test_a_run_goes_through_the_relay_and_says_so(coturn: int, tmp_path: Path) -> None:
    ice = IceSettings(urls=(f"turn:127.0.0.1:{coturn}",), secret=SECRET, relay_only=True)
    out = tmp_path / "relay.json"
    argv = ["--relay", "--duration", "2", "--fps", "10", "--size", "320x240", "--json", str(out)]
    assert asyncio.run(asyncio.wait_for(_loadtest(ServerConfig(ice=ice), argv), 120)) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and report["routes"] == ["relay udp"]
    assert report["clients"][0]["fps_in"] > 0


def test_relay_without_a_turn_server_is_a_clear_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = asyncio.run(asyncio.wait_for(_loadtest(ServerConfig(), ["--relay"]), 60))
    assert status != 0
    captured = capsys.readouterr()
    assert "no TURN server" in captured.out + captured.err
