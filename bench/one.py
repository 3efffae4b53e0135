"""Run one workload (warm-up + runs) in this process and print its raw results as JSON.

``python -m bench.one '{"w": "W1", "sync": "FULL", "runs": 5, "kw": {"n": 1000}}'``; the
parent (``python -m bench``) runs every workload in a fresh process so that peak RSS,
imports and caches do not leak between workloads.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from . import peers, workloads
from .common import Cfg


def main(spec: dict[str, Any]) -> list[dict[str, Any]]:
    kw = spec.get("kw", {})
    warm = spec.get("warm", {})
    runs = int(spec.get("runs", 1))
    if spec.get("peer"):
        fn = lambda **k: peers.run(spec["w"], **k)  # noqa: E731
        if warm is not None:
            fn(**{**kw, **warm})
        return [fn(**kw) for _ in range(runs)]
    if spec.get("wp"):  # the host reads it when it starts, as from local.settings.json
        os.environ["FUNCTIONS_WORKER_PROCESS_COUNT"] = str(spec["wp"])
    cfg = Cfg(synchronous=spec.get("sync", "FULL"), sessions=bool(spec.get("sessions", True)))
    func = getattr(workloads, spec["w"].lower())

    async def go() -> list[dict[str, Any]]:
        if warm is not None:
            await func(cfg, **{**kw, **warm})
        out = []
        for _ in range(runs):
            t = time.perf_counter()
            r = await func(cfg, **kw)
            r["secs"] = time.perf_counter() - t
            out.append(r)
        return out

    return asyncio.run(go())


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    try:
        result: Any = main(spec)
    except workloads.Unavailable as exc:
        result = {"unavailable": str(exc)}
    except Exception as exc:  # reported in the table, never hidden
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print("RESULT " + json.dumps(result), flush=True)
