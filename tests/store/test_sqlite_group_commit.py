"""Group commit (synchronous=FULL): every write returns only once an fdatasync of the WAL
covers it, and concurrent writers share those syncs."""

from __future__ import annotations

import threading
from pathlib import Path
from unittest import mock

from durable_local.store.base import Message
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
