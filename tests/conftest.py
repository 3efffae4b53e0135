"""Suite-wide settings.

Extended sessions run in equality mode for every test: each incremental episode is also
replayed in full and must produce byte-identical OrchestratorState JSON. The variable is set
here, at import, so hosts and worker processes that tests start as subprocesses inherit it;
a mismatch fails its instance there, and in this process it also fails the whole run below.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DURABLE_LOCAL_VERIFY_SESSIONS", "1")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from durable_local.engine.session import MISMATCHES

    if MISMATCHES:
        print(f"\nextended sessions differed from a full replay {len(MISMATCHES)} time(s):")
        for line in MISMATCHES[:20]:
            print(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
