"""Run as a fresh process by test_serve_signals: an event loop with `serve`'s SIGINT/SIGTERM
handling ("serve") or asyncio's alone ("bare"), whose process forks children the way OpenVINO's
telemetry sender did (multiprocessing, from a pool thread) and sends them SIGTERM (the sender's
terminate()) and SIGINT. Prints, as JSON, whether the loop was told to stop and how each child
ended."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import sys
import time

from visionanything.commands.serve_signals import stop_on_signals


def fork_and_signal(signum: int) -> int | str:
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    child.daemon = True
    child.start()
    child.join(0.3)  # the sender waits 3 s for its request, then terminate()s the child
    assert child.pid is not None
    os.kill(child.pid, signum)
    child.join(3)  # a child the signal kills is gone in milliseconds
    if child.is_alive():
        child.kill()
        child.join()
        return "outlived it"
    return child.exitcode if child.exitcode is not None else "unknown"


async def main(mode: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if mode == "serve":
        stop_on_signals(loop, stop)
    else:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    children: dict[str, int | str] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        children[signum.name] = await loop.run_in_executor(None, fork_and_signal, signum)
    await asyncio.sleep(0.5)  # time for the loop to read its wake-up socket
    print(json.dumps({"stopped": stop.is_set(), **children}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
