"""Cold starts of `visionanything serve`, each with an empty graph cache: seconds until /readyz
answers 200, then Ctrl-C (SIGINT) and the exit status. Prints one line per start and a summary.

    .venv/bin/python scripts/cold_starts.py --runs 10 [--models random] [-- extra serve args]

Plain HTTP on 127.0.0.1 with a port the OS picks; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def one_start(extra: list[str], models: str, timeout_s: float) -> tuple[float | None, int | None]:
    """(seconds to ready or None, exit status after SIGINT or None when it had to be killed)."""
    with tempfile.TemporaryDirectory(prefix="va-cold-") as cache:
        env = {**os.environ, "VISIONANYTHING_CACHE_DIR": cache, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "visionanything", "serve", "--http", "--host",
                   "127.0.0.1", "--port", "0", "--models", models, *extra]  # fmt: skip
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        port: list[str] = []
        found = threading.Event()

        def read() -> None:  # keep the pipe drained; note the port when it is printed
            assert process.stdout is not None
            for line in process.stdout:
                match = ADDRESS.search(line)
                if match and not port:
                    port.append(match.group(1))
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        ready_s = None
        try:
            if found.wait(timeout_s):
                while time.monotonic() - started < timeout_s and process.poll() is None:
                    try:
                        url = f"http://127.0.0.1:{port[0]}/readyz"
                        with urllib.request.urlopen(url, timeout=5) as answer:
                            if answer.status == 200:
                                ready_s = time.monotonic() - started
                                break
                    except (urllib.error.URLError, OSError):
                        pass
                    time.sleep(0.25)
            process.send_signal(signal.SIGINT)
            status: int | None = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            status = None
        return ready_s, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--models", default="random", choices=("random", "real"))
    parser.add_argument("--timeout", type=float, default=600, help="seconds per start")
    parser.add_argument("extra", nargs="*", help="more `serve` arguments (after --)")
    args = parser.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])
    times: list[float] = []
    clean = 0
    for run in range(1, args.runs + 1):
        ready_s, status = one_start(args.extra, args.models, args.timeout)
        shown = f"{ready_s:.1f} s" if ready_s is not None else "never"
        print(f"start {run}: ready after {shown}, exit status {status}", flush=True)
        if ready_s is not None:
            times.append(ready_s)
        clean += status == 0
    if times:
        print(
            f"{len(times)}/{args.runs} ready: median {statistics.median(times):.1f} s, "
            f"max {max(times):.1f} s; {clean}/{args.runs} stopped cleanly on SIGINT"
        )
    return 0 if len(times) == clean == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
