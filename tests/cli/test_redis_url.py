"""The Redis URL comes from the environment or a file, never from a command line with a
password, and the logs say only where Redis is (`visionanything.commands.redis_url`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from visionanything.cli import build_parser
from visionanything.commands.redis_url import ENV, describe, redis_url

SECRET = "s3cret-Pa55"


def _args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["worker", *extra])


def test_the_url_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    url = f"rediss://:{SECRET}@cache.school.org:6380/0"
    assert redis_url(_args(), {ENV: url}) == url
    path = tmp_path / "redis-url"
    path.write_text(url + "\n")
    assert redis_url(_args("--redis-url-file", str(path)), {}) == url
    assert redis_url(_args("--redis", "redis://127.0.0.1:6379/0"), {}) == "redis://127.0.0.1:6379/0"
    assert redis_url(_args(), {}) is None


def test_a_password_on_the_command_line_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match=ENV) as refused:
        redis_url(_args("--redis", f"redis://:{SECRET}@10.0.0.2:6379/0"), {})
    assert SECRET not in str(refused.value) and "--redis-url-file" in str(refused.value)
    with pytest.raises(ValueError, match="one way"):
        redis_url(_args("--redis", "redis://127.0.0.1/0"), {ENV: "redis://x/0"})
    with pytest.raises(ValueError, match="not a Redis URL"):
        redis_url(_args(), {ENV: "http://example.org"})


def test_the_logs_see_the_host_never_the_password() -> None:
    shown = describe(f"rediss://admin:{SECRET}@cache.school.org:6380/2")
    assert shown == "rediss://***@cache.school.org:6380/2" and SECRET not in shown
    assert describe("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_worker_metrics_listen_on_loopback_unless_told() -> None:
    assert build_parser().parse_args(["worker"]).metrics_host == "127.0.0.1"
    args = build_parser().parse_args(["worker", "--metrics-host", "0.0.0.0"])
    assert args.metrics_host == "0.0.0.0"
