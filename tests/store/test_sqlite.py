"""SQLite-specific guarantees: durability across reopen and crashes, schema versioning,
pragmas, and guards that hold between separate connections and processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from storekit import LEASE, T0, at, claim, claim_one, create, episode, hist, raised, snapshot, work

from durable_local.store import open_store
from durable_local.store.base import ConflictError, StoreError
from durable_local.store.sqlite import SqliteStore
from durable_local.store.sqlite_schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args], env=env, capture_output=True, text=True, timeout=90
    )


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    s = open_store("sqlite", tmp_path)
    create(s, "a", input='{"k": 1}')
    item = claim_one(s)
    episode(s, item, [hist(1), hist(2)], outgoing=[work("a", 1), raised("a", 2, visible_at=at(60))])
    before = snapshot(s, "a")
    s.close()
    assert (tmp_path / "durable.db").exists()
    s2 = open_store("sqlite", tmp_path)
    try:
        assert snapshot(s2, "a") == before
        assert s2.next_visible_time() == at(60)
        assert [m.payload["TaskId"] for m in s2.claim_activities(T0, 10, 30, "w")] == [1]
    finally:
        s2.close()


def test_open_store_options_pick_file_and_reject_unknown_kinds(tmp_path: Path) -> None:
    s = open_store("sqlite", tmp_path / "sub", filename="other.db", synchronous="NORMAL")
    try:
        assert (tmp_path / "sub" / "other.db").exists()
        assert s._c().execute("PRAGMA synchronous").fetchone()[0] == 1  # type: ignore[attr-defined]
    finally:
        s.close()
    with pytest.raises(ValueError):
        open_store("nosuch", tmp_path)


def test_schema_is_versioned_wal_and_full_sync(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "d.db")
    # FULL by default, implemented as group commit: SQLite at NORMAL (1) plus an fdatasync of
    # the WAL that every write transaction waits for before it returns
    assert s._synchronous == "FULL" and s._group
    assert s._c().execute("PRAGMA synchronous").fetchone()[0] == 1
    s.close()
    raw = sqlite3.connect(tmp_path / "d.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(tmp_path / "d.db")


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "d.db")
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError):
        s.get_instance("a")


def test_leases_and_etags_hold_between_two_connections(tmp_path: Path) -> None:
    one, two = SqliteStore(tmp_path / "d.db"), SqliteStore(tmp_path / "d.db")
    try:
        create(one, "a")
        item = claim_one(one)
        assert claim(two, at(1)) == []
        taken = claim_one(two, at(LEASE))
        with pytest.raises(ConflictError):
            episode(one, item, [hist(1)])
        episode(two, taken, [hist(2)])
        assert one.get_history("a") == [hist(2)]
    finally:
        one.close()
        two.close()


CRASHER = """
    import os, sys
    from storekit import T0, episode, hist, raised, work
    from durable_local.store.sqlite import SqliteStore

    path, fault = sys.argv[1], sys.argv[2]
    s = SqliteStore(path)
    [item] = s.claim_orchestrations(T0, 10, 30, "crasher")
    s.fault_hook = lambda name: os._exit(17) if name == fault else None
    episode(s, item, [hist(1), hist(2)], outgoing=[work("a", 1), raised("b", 1)])
    s.close()
"""


@pytest.mark.parametrize("fault", ["commit.after_instance", "commit.after_history", "commit.before_commit"])
def test_a_crash_mid_commit_leaves_no_partial_episode(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "durable.db"
    s = SqliteStore(path)
    create(s, "a")
    before = snapshot(s, "a")
    s.close()

    proc = _run(CRASHER, str(path), fault)
    assert proc.returncode == 17, proc.stderr

    s = SqliteStore(path)
    try:
        assert snapshot(s, "a") == before  # no row change, no history, start message still there
        assert s.count_messages() == 1
        assert claim(s, at(1)) == []  # the dead worker's lease was committed by its claim...
        item = claim_one(s, at(LEASE))  # ...and expires, so the episode is simply redone
        episode(s, item, [hist(1)])
        assert s.get_history("a") == [hist(1)] and s.count_messages() == 0
    finally:
        s.close()


def test_the_crasher_without_a_fault_commits_everything(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    s = SqliteStore(path)
    create(s, "a")
    s.close()
    proc = _run(CRASHER, str(path), "no-such-fault")
    assert proc.returncode == 0, proc.stderr
    s = SqliteStore(path)
    try:
        assert s.get_history("a") == [hist(1), hist(2)]
        assert s.count_messages(target="a") == 1 and s.count_messages(target="b") == 1
    finally:
        s.close()


WORKER = """
    import sys
    from storekit import T0
    from durable_local.store.base import ConflictError
    from durable_local.store.sqlite import SqliteStore

    s = SqliteStore(sys.argv[1])
    idle = 0
    while idle < 50:
        items = s.claim_orchestrations(T0, 2, 30, sys.argv[2])
        idle = 0 if items else idle + 1
        for item in items:
            inst = item.instance
            inst.runtime_status = "Running"
            try:
                s.commit_orchestration(item, instance=inst, new_history=[m.payload for m in item.messages])
            except ConflictError:
                pass
    s.close()
"""


def test_two_processes_on_one_file_consume_each_message_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    s = SqliteStore(path)
    for i in range(4):
        create(s, f"i{i}")
    s.enqueue([raised(f"i{n % 4}", n) for n in range(80)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(WORKER), str(path), f"p{k}"], env=env) for k in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=90) == 0
    try:
        assert s.count_messages() == 0
        for i in range(4):
            names = [e["Name"] for e in s.get_history(f"i{i}")]
            assert names == ["orch", *[f"e{n}" for n in range(80) if n % 4 == i]]
            got = s.get_instance(f"i{i}")
            assert got is not None and got.runtime_status == "Running" and got.etag >= 2
    finally:
        s.close()
