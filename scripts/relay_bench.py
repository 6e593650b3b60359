"""One phone direct, then through a local coturn relay-only over TURN UDP and TURN TCP (issue 19):
`visionanything loadtest --clients 1 [--relay]` against a fresh `serve --models random` each
time; the server's and coturn's CPU (utime + stime from /proc, all threads) over the load test,
and `/metrics`' sessions_by_path halfway through (which route the server saw).

    .venv/bin/python scripts/relay_bench.py [SECONDS] [OUT_DIR]    # default 30, /tmp/relay_bench

Needs coturn (`turnserver`, a system package of this project); everything stays on 127.0.0.1.
Prints the results as JSON and writes OUT_DIR/results.json and each load test's JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.coturn import free_port, running_coturn  # noqa: E402

VA = str(ROOT / ".venv/bin/visionanything")
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/relay_bench")
HZ = os.sysconf("SC_CLK_TCK")
DURATION = sys.argv[1] if len(sys.argv) > 1 else "30"


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime + stime, all threads


def wait_ready(port: int) -> float:
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.5)


def run(name: str, serve_extra: list[str], lt_extra: list[str], coturn_pid: int) -> dict[str, Any]:
    port = free_port(socket.SOCK_STREAM)
    log = (OUT / f"serve-{name}.log").open("w")
    serve = subprocess.Popen(
        [VA, "serve", "--http", "--host", "127.0.0.1", "--port", str(port), "--models", "random",
         "--device", "cpu", "--offers-per-minute", "0", "--sessions-per-address", "0",
         *serve_extra],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        ready = wait_ready(port)
        time.sleep(3)  # settle
        s0, c0, t0 = cpu_s(serve.pid), cpu_s(coturn_pid), time.monotonic()
        lt = subprocess.Popen(
            [VA, "loadtest", "--url", f"http://127.0.0.1:{port}", "--clients", "1",
             "--duration", DURATION, "--json", str(OUT / f"lt-{name}.json"), *lt_extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        time.sleep(float(DURATION) / 2 + 2)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        out, _ = lt.communicate()
        s1, c1, t1 = cpu_s(serve.pid), cpu_s(coturn_pid), time.monotonic()
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    (OUT / f"lt-{name}.txt").write_text(out)
    report = json.loads((OUT / f"lt-{name}.json").read_text())
    wall = t1 - t0
    return {
        "name": name,
        "ready_s": round(ready, 1),
        "wall_s": round(wall, 1),
        "server_cpu_pct": round(100 * (s1 - s0) / wall, 1),
        "coturn_cpu_pct": round(100 * (c1 - c0) / wall, 2),
        "routes": report.get("routes"),
        "summary": report["summary"],
        "client": {k: report["clients"][0].get(k) for k in ("fps_in", "fps_out", "state")},
        "by_path": [
            line
            for line in metrics.splitlines()
            if "sessions_by_" in line and line.endswith(" 1.0")
        ],
        "exit": lt.returncode,
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with running_coturn(OUT, secret="bench-secret") as turn:
        secret = OUT / "secret"
        secret.write_text("bench-secret\n")
        ice = ["--ice-server", f"turn:127.0.0.1:{turn.port}", "--turn-secret-file", str(secret)]
        tcp = [
            "--ice-server",
            f"turn:127.0.0.1:{turn.port}?transport=tcp",
            "--turn-secret-file",
            str(secret),
        ]
        results = [
            run("direct", [], [], turn.pid),
            run("relay-udp", [*ice, "--ice-relay-only"], ["--relay"], turn.pid),
            run("relay-tcp", [*tcp, "--ice-relay-only"], ["--relay"], turn.pid),
        ]
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
