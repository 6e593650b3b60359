"""1, 2 and 4 phones against one `visionanything serve`, one after another, and one table row each:
returned fps, round-trip latency, masks drawn per second and time to first objects.

    .venv/bin/python scripts/phones.py [--server-tree DIR] [--clients 1 2 4] [--duration 40]
        [--cache DIR] [--out DIR] [-- extra serve args]

The server runs from `--server-tree` (default: this checkout; give another checkout, e.g. a
`git worktree` of an older commit, to measure before and after with the same load-test client),
plain HTTP on 127.0.0.1 with `--models random --device cpu`, and its graph cache in `--cache`
(kept between calls, so a second call measures warm starts). A one-phone run (`--warm-up`
seconds) warms the server up first and is not reported. Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/")
HERE = Path(__file__).resolve().parents[1]
# every simulated phone comes from 127.0.0.1: the per-address limits would refuse phones 3 and 4
LOAD_TEST_LIMITS = ("--offers-per-minute", "0", "--sessions-per-address", "0")


def start_server(tree: Path, cache: Path, extra: list[str], log_path: Path) -> tuple[Any, str]:
    env = {
        **os.environ,
        "VISIONANYTHING_CACHE_DIR": str(cache),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(tree),
    }
    command = [sys.executable, "-m", "visionanything", "serve", "--http", "--host", "127.0.0.1",
               "--port", "0", "--models", "random", "--device", "cpu",
               *LOAD_TEST_LIMITS, *extra]  # fmt: skip
    log_file = log_path.open("w")
    process = subprocess.Popen(
        command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    port: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            log_file.flush()
            match = ADDRESS.search(line)
            if match and not port:
                port.append(match.group(1))
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(300):
        process.kill()
        raise SystemExit(f"the server printed no address; see {log_path}")
    url = f"http://127.0.0.1:{port[0]}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return process, url
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the server never became ready; see {log_path}")


def run_clients(
    url: str, clients: int, duration: float, out: Path, tap: bool = False
) -> dict[str, Any]:
    command = [sys.executable, "-m", "visionanything", "loadtest", "--url", url, "--clients",
               str(clients), "--duration", str(duration), "--json", str(out), "--quiet",
               *(["--tap"] if tap else [])]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(HERE)}  # always this checkout's load-test client
    subprocess.run(command, cwd=HERE, env=env, check=False, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def row(result: dict[str, Any]) -> str:
    summary = {r["name"]: r for r in result["summary"]}
    clients = [c for c in result["clients"] if c["state"] != "failed"]

    def p(name: str, key: str, fmt: str = "{:.1f}") -> str:
        value = summary.get(name, {}).get(key)
        return "-" if value is None else fmt.format(value)

    masks_each = [float(np.median(c["masks_fps"])) if c["masks_fps"] else 0.0 for c in clients]
    first = summary.get("first objects (s)", {})
    return (
        f"| {result['clients_asked']} | {p('fps in (returned)', 'p50')} / "
        f"{p('fps in (returned)', 'p95')} | {p('latency (ms)', 'p50', '{:.0f}')} / "
        f"{p('latency (ms)', 'p95', '{:.0f}')} | "
        f"{min(masks_each, default=0):.1f} / {p('masks drawn per second', 'p50')} | "
        f"{p('first objects (s)', 'p50')} / {p('first objects (s)', 'p95')} "
        f"({first.get('n', 0)} of {len(clients)}) | {len(result['clients']) - len(clients)} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-tree", type=Path, default=HERE)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--duration", type=float, default=40)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/va-phones-cache"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/va-phones"))
    parser.add_argument(
        "--warm-up", type=float, default=10, help="seconds of one phone first, not reported"
    )
    parser.add_argument(
        "--tap", action="store_true", help="phones tap the middle after every cut (loadtest --tap)"
    )
    parser.add_argument("extra", nargs="*", help="more `serve` arguments (after --)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    tree = args.server_tree.resolve()
    process, url = start_server(tree, args.cache, args.extra, args.out / "server.log")
    try:
        run_clients(url, 1, args.warm_up, args.out / "warm-up.json")
        print("| phones | fps back p50 / p95 | latency p50 / p95 ms | masks drawn/s p50: "
              "worst phone / all | first objects p50 / p95 s | failed |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|", flush=True)
        for clients in args.clients:
            out = args.out / f"phones-{clients}.json"
            result = run_clients(url, clients, args.duration, out, args.tap)
            print(row(result), flush=True)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
