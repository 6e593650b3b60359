"""Test helpers the whole suite shares: fakes of the engine and of a phone, servers started on
loopback (redis-server, coturn), probes run as separate processes, and tiny random models."""
