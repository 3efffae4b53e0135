"""``python tests/chaos/fault_host.py SPEC start ...``: the CLI host with a fault plan installed.

SPEC is ``ACTION@K`` (``exit@7``: ``os._exit(137)`` at the 7th durable write) optionally followed
by ``:point,point`` to count only those fault points; ``none`` installs nothing. Production
code has no switch for this: the plan is installed here, before the CLI runs.

``FAULT_ACTIVITY_DELAY=<seconds>`` in the environment makes every activity sleep that long
(asynchronously) before it runs, so work is reliably in flight (R19 SIGTERM).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from durable_local import cli
from durable_local.testing.faults import FaultPlan


def plan_from_spec(spec: str) -> FaultPlan | None:
    if spec == "none":
        return None
    head, _, names = spec.partition(":")
    action, _, at = head.partition("@")
    return FaultPlan(at=int(at), action=action, names=names.split(",") if names else None)


def delay_activities(seconds: float) -> None:
    import asyncio

    from durable_local.runtime import invoke

    original = invoke.call_activity

    async def delayed(*args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(seconds)
        return await original(*args, **kwargs)

    invoke.call_activity = delayed  # type: ignore[assignment]


if __name__ == "__main__":
    import os

    if os.environ.get("FAULT_ACTIVITY_DELAY"):
        delay_activities(float(os.environ["FAULT_ACTIVITY_DELAY"]))
    plan = plan_from_spec(sys.argv[1])
    if plan is not None:
        plan.install()
    sys.exit(cli.main(sys.argv[2:]))
