"""Conformance: host state for triggers (timer schedule status, singleton locks)."""

from __future__ import annotations

from pathlib import Path

from storekit import at

from durable_local.store import open_store
from durable_local.store.base import Store


def test_host_values_round_trip_and_the_last_write_wins(store: Store) -> None:
    assert store.get_host_value("timers/nightly/status") is None
    store.put_host_value("timers/nightly/status", '{"Last": "a"}')
    store.put_host_value("timers/nightly/status", '{"Last": "b"}')
    store.put_host_value("other key?#/\\", "x")
    assert store.get_host_value("timers/nightly/status") == '{"Last": "b"}'
    assert store.get_host_value("other key?#/\\") == "x"


def test_a_host_lock_has_one_owner_until_it_expires_or_is_released(store: Store) -> None:
    assert store.acquire_host_lock("timers/nightly", "host-a", at(0), 60)
    assert not store.acquire_host_lock("timers/nightly", "host-b", at(10), 60)
    assert store.acquire_host_lock("timers/nightly", "host-a", at(20), 60)  # renewal: now until 80 s
    assert not store.acquire_host_lock("timers/nightly", "host-b", at(70), 60)
    assert store.acquire_host_lock("timers/nightly", "host-b", at(81), 60)  # expired: taken over
    store.release_host_lock("timers/nightly", "host-a")  # not the owner any more: no effect
    assert not store.acquire_host_lock("timers/nightly", "host-a", at(90), 60)
    store.release_host_lock("timers/nightly", "host-b")
    assert store.acquire_host_lock("timers/nightly", "host-a", at(91), 60)
    assert store.acquire_host_lock("timers/other", "host-b", at(91), 60)  # locks are independent


def test_sqlite_host_state_is_shared_by_two_stores_on_one_file(tmp_path: Path) -> None:
    one, two = open_store("sqlite", tmp_path), open_store("sqlite", tmp_path)
    try:
        one.put_host_value("k", "v")
        assert two.get_host_value("k") == "v"
        assert one.acquire_host_lock("l", "a", at(0), 30)
        assert not two.acquire_host_lock("l", "b", at(1), 30)
    finally:
        one.close()
        two.close()
