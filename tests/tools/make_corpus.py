"""Regenerate the replay corpus (tests/tools/corpus/*.json) from real runs of this repo's app.

Run ``.venv/bin/python -m tests.tools.make_corpus`` from the repo root. Each scenario drives
the app over HTTP on an in-process host (virtual clock, SQLite store), then exports every
orchestration instance it created (the order and its sub-orchestrations) with the same code
path as ``python -m durable_local export``. Only regenerate on purpose: the corpus exists to
catch orchestrator changes that break instances recorded with older code (RELIABILITY R11).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from durable_local.testing import HostHarness, running_host
from durable_local.tools.history_file import all_orchestration_ids, export_instance, write_history_file
from tests.e2e.conftest import finish_with_clock, make_order, stock

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"


async def happy(h: HostHarness) -> None:
    await stock(h, "SKU-CORPUS-A", 10)
    await h.post("/api/orders", json=make_order("corpus-happy", [("SKU-CORPUS-A", 3, 1500)]))
    await h.wait_for("corpus-happy")


async def approval(h: HostHarness) -> None:
    await stock(h, "SKU-CORPUS-B", 10)
    await h.post("/api/orders", json=make_order("corpus-approval", [("SKU-CORPUS-B", 2, 90_000)]))
    await h.wait_until(lambda: _timer_created(h, "corpus-approval"), what="approval timer")
    await h.post("/api/orders/corpus-approval/approval", json={"approved": True, "approver": "manager"})
    await h.wait_for("corpus-approval")


async def approval_timeout(h: HostHarness) -> None:
    await stock(h, "SKU-CORPUS-C", 10)
    await h.post("/api/orders", json=make_order("corpus-timeout", [("SKU-CORPUS-C", 2, 90_000)]))
    await h.wait_until(lambda: _timer_created(h, "corpus-timeout"), what="approval timer")
    h.clock_advance(hours=73)
    await h.wait_for("corpus-timeout")


async def retry(h: HostHarness) -> None:
    await stock(h, "SKU-CORPUS-D", 10)
    await h.post("/api/orders", json=make_order("corpus-retry", [("SKU-CORPUS-D", 1, 500)], card="4000000000009995"))
    await finish_with_clock(h, "corpus-retry", step_seconds=31)


async def decline(h: HostHarness) -> None:
    await stock(h, "SKU-CORPUS-E", 10)
    await h.post("/api/orders", json=make_order("corpus-decline", [("SKU-CORPUS-E", 1, 500)], card="4000000000000002"))
    await h.wait_for("corpus-decline")


async def robust(h: HostHarness) -> None:
    await h.post("/runtime/webhooks/durabletask/orchestrators/robust_orchestrator/corpus-robust",
                 json={"key": "corpus-robust", "failTimes": 2})
    await finish_with_clock(h, "corpus-robust", step_seconds=5)


async def _timer_created(h: HostHarness, oid: str) -> bool:
    status = await h.status(oid, showHistory="true")
    return bool(status) and any(e["EventType"] == "TimerCreated" for e in status.get("historyEvents", []))


SCENARIOS: dict[str, Callable[[HostHarness], Awaitable[None]]] = {
    "happy": happy, "approval": approval, "timeout": approval_timeout, "retry": retry, "decline": decline,
    "robust": robust,
}


async def record(scenario: str, out_dir: Path, work: Path) -> list[Path]:
    """Run one scenario on a fresh SQLite store and export all its orchestrations."""
    written = []
    async with running_host(REPO, store="sqlite", data_dir=work / scenario) as h:
        await SCENARIOS[scenario](h)
        for instance_id in all_orchestration_ids(h.store):
            doc = export_instance(h.store, instance_id)
            safe = instance_id.replace(":", "--")
            path = out_dir / f"{scenario}.{safe}.json"
            write_history_file(doc, path)
            written.append(path)
    return written


async def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"SANDBOX_DATA_DIR": str(Path(tmp) / "sandbox"), "APPROVAL_THRESHOLD_CENTS": "100000",
                           "APPROVAL_TIMEOUT_HOURS": "72", "TASK_HUB_NAME": "CorpusHub"})
        for name in names or list(SCENARIOS):
            for path in await record(name, CORPUS, Path(tmp)):
                print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
