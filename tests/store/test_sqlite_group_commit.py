"""Group commit (synchronous=FULL): every write returns only once an fdatasync of the WAL
covers it, and concurrent writers share those syncs."""

from __future__ import annotations

import threading
from pathlib import Path
from unittest import mock

import pytest
from storekit import claim, create, episode, hist

from durable_local.store.base import ConflictError, Message
from durable_local.store.sqlite import SqliteStore


def test_every_write_waits_for_a_covering_sync(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "d.db")
    syncs = []
    real = s._fsync_wal

    def counting() -> None:
        syncs.append(s._committed)
        real()

    with mock.patch.object(s, "_fsync_wal", counting):

        def writer(k: int) -> None:
            for i in range(20):
                s.enqueue([Message(target=f"i{k}", payload={"EventType": 6, "n": i})])
                assert s._synced >= 1

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert s._synced == s._committed  # nothing committed is left unsynced
    assert 0 < len(syncs) <= 160  # at most one sync per commit; usually far fewer
    assert s.count_messages() == 160
    s.close()


def test_normal_does_not_sync_per_commit(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "d.db", synchronous="NORMAL")
    assert not s._group
    with mock.patch.object(s, "_fsync_wal") as fs:
        s.enqueue([Message(target="x", payload={"EventType": 6})])
    fs.assert_not_called()
    s.close()


def test_a_batch_is_one_sync_and_a_failed_write_undoes_only_itself(tmp_path: Path) -> None:
    """batch() (what the dispatcher's WriteBatcher uses): writes are savepoints of one
    transaction; a write that raises (a stale writer's ConflictError) leaves no trace, the
    others commit, and the whole batch costs one fsync."""
    s = SqliteStore(tmp_path / "d.db")
    for iid in ("a", "b", "c"):
        create(s, iid)
    items = {i.instance_id: i for i in claim(s)}
    stale = items["b"]
    stale.lease_token = "not-the-lease"
    syncs = []
    real = s._fsync_wal
    with mock.patch.object(s, "_fsync_wal", lambda: (syncs.append(1), real())), s.batch():
        episode(s, items["a"], [hist(1)])
        with pytest.raises(ConflictError):
            episode(s, stale, [hist(1)])
        s.enqueue([Message(target="c", payload={"EventType": 6, "n": 1})])
    assert len(syncs) == 1
    assert s.get_history("a") == [hist(1)] and s.get_history("b") == []
    assert s.get_instance("b").runtime_status == "Pending"  # the conflicting write left nothing
    assert s._synced == s._committed
    s.close()


def test_a_batch_that_fails_to_commit_writes_nothing(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "d.db")
    with pytest.raises(RuntimeError), s.batch():
        s.enqueue([Message(target="x", payload={"EventType": 6})])
        raise RuntimeError("crash before COMMIT")
    assert s.count_messages() == 0
    s.enqueue([Message(target="y", payload={"EventType": 6})])  # the store is usable after
    assert s.count_messages() == 1
    s.close()
