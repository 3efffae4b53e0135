"""An extra worker process sharing the bench host's SQLite file (multi-process variant).

``python -m bench.worker DATA_DIR SYNCHRONOUS``: runs the dispatchers (no HTTP) until stdin
closes. durable_local has no cross-process wake-up yet, so this process also wakes its own
loops every 2 ms (a bench-only poll; the headline rows are single-process).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from durable_local.runtime.clock import Clock
from durable_local.runtime.host import Host, HostConfig

from .common import APP_DIR, bench_app


async def main(data_dir: str, synchronous: str) -> None:
    config = HostConfig(app_dir=APP_DIR, port=0, store="sqlite", data_dir=Path(data_dir), synchronous=synchronous)
    h = Host(config, clock=Clock(), app=bench_app())
    h.dispatcher.start()
    loop = asyncio.get_running_loop()
    eof = loop.run_in_executor(None, sys.stdin.read)
    print("ready", flush=True)
    while not eof.done():
        h.dispatcher.notify()
        await asyncio.sleep(0.002)
    await h.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
