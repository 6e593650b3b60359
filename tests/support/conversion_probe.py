"""Run as a fresh process by test_dependency_guards: import one of our entry points first (argv[1],
as a program does), log like the CLI, convert a tiny module to OpenVINO with `convert_quietly`
while another thread logs, and print what the dependencies did as JSON on the last stdout line."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading

importlib.import_module(sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)

forks: list[int] = []  # OpenVINO's telemetry sender posts each event from a forked child
os.register_at_fork(before=lambda: forks.append(1))

import torch  # noqa: E402

from inference.core.dependency_guards import convert_quietly  # noqa: E402

in_conversion = threading.Event()
logged = threading.Event()


class Probe(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # traced inside convert_model, after the converter set up its logging
        in_conversion.set()
        logged.wait(60)
        return x * 2


def other_thread() -> None:
    in_conversion.wait(120)
    logging.getLogger("stream.elsewhere").info("another thread is heard during the conversion")
    logged.set()


root = logging.getLogger()
before = [root.level, len(root.filters), len(root.handlers)]
talker = threading.Thread(target=other_thread)
talker.start()
model = convert_quietly(Probe(), example_input=torch.zeros(1, 4))
talker.join()

ovc = importlib.import_module("openvino.tools.ovc.convert_impl")
hub = importlib.import_module("huggingface_hub.constants")
transformers_hub = importlib.import_module("transformers.utils.hub")
print(
    json.dumps(
        {
            "converted_inputs": len(model.inputs),
            "traced_in_conversion": in_conversion.is_set(),
            "openvino_telemetry_module": repr(sys.modules.get("openvino_telemetry", "absent")),
            "converter_telemetry": ovc.tm.__name__,
            "forks": len(forks),
            "root_before": before,
            "root_after": [root.level, len(root.filters), len(root.handlers)],
            "hub_telemetry_off": hub.HF_HUB_DISABLE_TELEMETRY,
            "hub_offline": hub.is_offline_mode(),
            "transformers_user_agent": transformers_hub.http_user_agent(),
        }
    )
)
