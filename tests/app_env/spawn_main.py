"""Run as ``python -m tests.app_env.spawn_main <app_dir>``: a program from this checkout that
starts a host with a worker process on another app. The spawned worker re-imports this module
by name first, which only the host's own path can find (the app's path has no checkout)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from durable_local.testing import running_host


async def _main(app_dir: Path) -> None:
    os.environ["FUNCTIONS_WORKER_PROCESS_COUNT"] = "1"
    async with running_host(app_dir) as h:
        code, body, _ = await h.post("/runtime/webhooks/durabletask/orchestrators/hello", json={"name": "Fay"})
        assert code == 202, body
        status = await h.wait_for(body["id"], timeout=60)
        print(json.dumps({"status": status["runtimeStatus"], "output": status["output"], "host_pid": os.getpid()}))


if __name__ == "__main__":
    asyncio.run(_main(Path(sys.argv[1])))
