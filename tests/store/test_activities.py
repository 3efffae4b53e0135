"""Conformance: the activity queue: per-message leases, completion, abandon."""

from __future__ import annotations

from storekit import T0, FakeClock, at, raised, work

from durable_local.store.base import ACTIVITY_QUEUE, ORCHESTRATOR_QUEUE, Store


def _claim(store: Store, now=T0, limit: int = 10, lease: float = 30.0):  # type: ignore[no-untyped-def]
    return store.claim_activities(now, limit, lease, "worker-1")


def test_claim_leases_oldest_first_with_a_token_per_message(store: Store) -> None:
    store.enqueue([work("a", 1), work("b", 2), work("a", 3)])
    got = _claim(store, limit=2)
    assert [m.payload["TaskId"] for m in got] == [1, 2]
    assert all(m.queue == ACTIVITY_QUEUE and m.lease_token for m in got)
    assert got[0].lease_token != got[1].lease_token
    assert [m.payload["TaskId"] for m in _claim(store)] == [3]
    assert _claim(store) == []


def test_activity_claims_never_return_orchestrator_messages(store: Store) -> None:
    store.enqueue([raised("a", 1)])
    assert _claim(store) == []


def test_complete_deletes_the_item_and_enqueues_the_result(store: Store) -> None:
    store.enqueue([work("a", 1)])
    [item] = _claim(store)
    result = raised("a", 99)
    store.complete_activity(item, result)
    assert result.id is not None
    assert store.count_messages(ACTIVITY_QUEUE) == 0
    assert [m.payload["Name"] for m in store.list_messages("a")] == ["e99"]


def test_a_second_completion_writes_nothing(store: Store) -> None:
    store.enqueue([work("a", 1)])
    [item] = _claim(store)
    store.complete_activity(item, raised("a", 1))
    dup = raised("a", 2)
    store.complete_activity(item, dup)
    assert store.count_messages(ORCHESTRATOR_QUEUE) == 1 and dup.id is None


def test_an_expired_activity_lease_is_reclaimed_and_either_completion_counts_once(store: Store) -> None:
    store.enqueue([work("a", 1)])
    [first] = _claim(store, lease=10)
    assert _claim(store, at(9)) == []
    [second] = _claim(store, at(10))
    assert second.id == first.id and second.lease_token != first.lease_token
    store.complete_activity(first, raised("a", 1))  # the slow worker finishes after all
    store.complete_activity(second, raised("a", 2))
    assert [m.payload["Name"] for m in store.list_messages("a")] == ["e1"]


def test_abandon_makes_the_item_visible_again_and_counts_the_dequeue(store: Store) -> None:
    store.enqueue([work("a", 1)])
    [item] = _claim(store)
    store.abandon_activity(item)
    [again] = _claim(store, at(1))
    assert again.dequeue_count == 1


def test_abandon_with_delay_uses_the_store_clock(store: Store, clock: FakeClock) -> None:
    store.enqueue([work("a", 1)])
    [item] = _claim(store)
    clock.now = at(50)
    store.abandon_activity(item, delay_seconds=10)
    assert _claim(store, at(59)) == []
    assert store.next_visible_time() == at(60)
    [again] = _claim(store, at(60))
    assert again.dequeue_count == 1


def test_abandon_by_a_worker_whose_lease_was_taken_over_is_a_no_op(store: Store) -> None:
    store.enqueue([work("a", 1)])
    [old] = _claim(store, lease=5)
    [new] = _claim(store, at(5), lease=30)
    store.abandon_activity(old)
    assert _claim(store, at(6)) == []  # still leased to the new worker
    [stored] = store.list_messages("a")
    assert stored.lease_token == new.lease_token and stored.dequeue_count == 0


def test_delayed_activities_wait_for_their_time(store: Store) -> None:
    store.enqueue([work("a", 1, visible_at=at(20)), work("a", 2)])
    assert [m.payload["TaskId"] for m in _claim(store)] == [2]
    assert _claim(store, at(19)) == []
    assert [m.payload["TaskId"] for m in _claim(store, at(20))] == [1]
