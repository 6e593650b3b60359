"""Test helpers the whole suite shares: fakes of the engine and of a phone, servers started on
loopback (redis-server, coturn, a directory over HTTP), probes run as separate processes, tiny
random models, real Chromium for the page tests, the class-room tests' scaffolding and a clock
they move. Test modules import helpers from here, never from one another."""
