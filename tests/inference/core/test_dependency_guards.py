"""Dependencies neither talk to the outside nor change our logging: a real OpenVINO conversion in
a fresh process (tests/support/conversion_probe.py) entered the way our programs are."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inference.core.dependency_guards import convert_quietly

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "tests/support/conversion_probe.py"
HEARD = "stream.elsewhere: another thread is heard during the conversion"
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves


@pytest.fixture(scope="module", params=["inference", "visionanything.cli"])
def probe(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("home")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HF_", "TRANSFORMERS_")) and name != "DO_NOT_TRACK"
    }
    # the sender keeps its consent and client id under $HOME/intel; should a guard break, any
    # request it makes goes to a dead proxy instead of Google Analytics
    env.update(HOME=str(home), https_proxy=DEAD_PROXY, http_proxy=DEAD_PROXY, no_proxy="")
    env["PYTHONPATH"] = str(ROOT)  # this checkout's packages, whatever the venv was installed from
    done = subprocess.run(
        [sys.executable, str(PROBE), request.param],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    facts.update(stderr=done.stderr, home=home)
    return facts


def test_openvino_conversion_sends_no_telemetry(probe: dict[str, Any]) -> None:
    assert probe["converted_inputs"] == 1
    assert probe["openvino_telemetry_module"] == "None"  # blocked before openvino imported
    assert probe["converter_telemetry"] == "openvino.tools.ovc.telemetry_stub"
    assert probe["forks"] == 0  # the sender forks one child per event
    assert not (probe["home"] / "intel").exists()  # nor writes a client id or usage counts


def test_hugging_face_telemetry_is_off_and_the_hub_is_not_asked(probe: dict[str, Any]) -> None:
    assert probe["hub_telemetry_off"] is True
    assert probe["hub_offline"] is True
    assert probe["transformers_user_agent"].endswith("telemetry/off")


def test_another_thread_is_heard_during_a_conversion(probe: dict[str, Any]) -> None:
    assert probe["traced_in_conversion"]
    assert HEARD in probe["stderr"]
    assert probe["root_after"] == probe["root_before"]


def test_a_conversion_that_changes_the_root_logger_and_fails_leaves_it_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenVINO restores its own change only on success; another version may change it elsewhere."""
    openvino = pytest.importorskip("openvino")
    root = logging.getLogger()
    before = (root.level, list(root.filters), list(root.handlers))

    def mutes_and_fails(model: object, **options: object) -> None:
        root.setLevel(logging.ERROR)
        root.addFilter(logging.Filter("ovc"))
        root.addHandler(logging.NullHandler())
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(openvino, "convert_model", mutes_and_fails)
    with pytest.raises(RuntimeError, match="conversion failed"):
        convert_quietly(object())
    assert (root.level, root.filters, root.handlers) == before
