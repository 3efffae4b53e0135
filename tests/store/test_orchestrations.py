"""Conformance: orchestration episodes: claim, coalescing, leases, commit, abandon."""

from __future__ import annotations

import pytest
from storekit import (
    LEASE,
    T0,
    FakeClock,
    at,
    claim,
    claim_one,
    create,
    episode,
    hist,
    payloads,
    raised,
    row_for,
    snapshot,
    started,
    work,
)

from durable_local.store.base import ACTIVITY_QUEUE, ORCHESTRATOR_QUEUE, ConflictError, Store


def test_claim_commit_round_trip_appends_history_and_enqueues_outgoing(store: Store) -> None:
    create(store, "a")
    item = claim_one(store)
    assert item.instance is not None and item.instance.etag == 1 and item.history == []
    assert [m.payload["EventType"] for m in item.messages] == [0]
    out = [work("a", 1), work("a", 2)]
    inst = episode(store, item, [hist(1), hist(2)], outgoing=out)
    assert inst.etag == 2 and all(m.id is not None for m in out)
    assert store.get_history("a") == [hist(1), hist(2)]
    assert store.count_messages(ORCHESTRATOR_QUEUE) == 0 and store.count_messages(ACTIVITY_QUEUE) == 2
    got = store.get_instance("a")
    assert got is not None and got.runtime_status == "Running" and got.etag == 2

    store.enqueue([raised("a", 1)])
    item2 = claim_one(store)
    assert item2.history == [hist(1), hist(2)] and item2.instance is not None and item2.instance.etag == 2
    episode(store, item2, [hist(3)])
    assert store.get_history("a") == [hist(1), hist(2), hist(3)]


def test_replace_history_swaps_the_whole_history(store: Store) -> None:
    create(store, "a")
    episode(store, claim_one(store), [hist(1), hist(2)])
    store.enqueue([raised("a", 1)])
    item = claim_one(store)
    inst = row_for(item, "Running", execution_id="exec-2")
    store.commit_orchestration(item, instance=inst, new_history=[hist(9)], replace_history=True)
    assert store.get_history("a") == [hist(9)]
    store.enqueue([raised("a", 2)])
    episode(store, claim_one(store), [hist(10)])
    assert store.get_history("a") == [hist(9), hist(10)]


def test_all_visible_messages_of_an_instance_come_in_one_work_item(store: Store) -> None:
    create(store, "a")
    create(store, "b")
    store.enqueue([raised("a", 1), raised("b", 1), raised("a", 2)])
    items = claim(store)
    assert [i.instance_id for i in items] == ["a", "b"]
    a = items[0]
    assert [m.payload.get("Name") for m in a.messages] == ["orch", "e1", "e2"]
    assert [m.id for m in a.messages] == sorted(m.id for m in a.messages if m.id is not None)


def test_claim_orders_instances_by_oldest_message_and_honours_limit(store: Store) -> None:
    for iid in ["z", "y", "x"]:
        create(store, iid)
    assert [i.instance_id for i in claim(store, limit=2)] == ["z", "y"]
    assert [i.instance_id for i in claim(store, limit=2)] == ["x"]
    assert claim(store) == []


def test_delayed_messages_stay_invisible_until_now(store: Store) -> None:
    create(store, "a")
    episode(store, claim_one(store), [hist(1)])
    store.enqueue([raised("a", 1, visible_at=at(60))])
    assert claim(store, at(59)) == []
    item = claim_one(store, at(60))
    assert payloads(item.messages) == [raised("a", 1).payload]


def test_only_visible_messages_are_coalesced_and_delayed_ones_survive_the_commit(store: Store) -> None:
    create(store, "a")
    store.enqueue([raised("a", 1, visible_at=at(60))])
    item = claim_one(store, at(1))
    assert [m.payload["EventType"] for m in item.messages] == [0]
    episode(store, item, [hist(1)])
    assert [m.payload.get("Name") for m in claim_one(store, at(60)).messages] == ["e1"]


def test_a_live_lease_excludes_the_instance_even_when_new_messages_arrive(store: Store) -> None:
    create(store, "a")
    item = claim_one(store)
    store.enqueue([raised("a", 1)])
    assert claim(store, at(LEASE - 1)) == []
    episode(store, item, [hist(1)])
    # the message that arrived during the lease was not consumed: it is the next episode
    nxt = claim_one(store, at(1))
    assert [m.payload.get("Name") for m in nxt.messages] == ["e1"]


def test_an_expired_lease_is_taken_over_and_the_old_holder_conflicts(store: Store) -> None:
    create(store, "a")
    old = claim_one(store, T0, lease=10)
    new = claim_one(store, at(10))
    assert new.lease_token != old.lease_token and payloads(new.messages) == payloads(old.messages)
    before = snapshot(store, "a")
    with pytest.raises(ConflictError):
        episode(store, old, [hist(1)], outgoing=[work("a", 1)])
    assert snapshot(store, "a") == before
    episode(store, new, [hist(2)])
    assert store.get_history("a") == [hist(2)]


def test_a_stale_etag_raises_conflict_and_writes_nothing(store: Store) -> None:
    create(store, "a")
    item = claim_one(store)
    store.set_instance_row(row_for(item, "Running"))  # someone else wrote the row meanwhile
    before = snapshot(store, "a")
    stale = row_for(item, "Completed")
    with pytest.raises(ConflictError) as err:
        store.commit_orchestration(item, instance=stale, new_history=[hist(1)], outgoing=[work("a", 1)])
    assert err.value.code == "conflict" and stale.etag == 1
    assert snapshot(store, "a") == before
    assert store.count_messages(ACTIVITY_QUEUE) == 0


def test_first_message_without_a_row_creates_it_with_etag_0(store: Store) -> None:
    first = raised("@counter@k", 1)
    store.enqueue([first])
    item = claim_one(store)
    assert item.instance is None and item.messages[0].id == first.id
    inst = episode(store, item, [], status="Running")
    assert inst.etag == 1
    got = store.get_instance("@counter@k")
    assert got is not None and got.etag == 1


def test_etag_0_commit_conflicts_when_the_row_appeared_meanwhile(store: Store) -> None:
    store.enqueue([started("sub")])
    item = claim_one(store)
    create(store, "sub", "Completed")  # a racing client start
    before = snapshot(store, "sub")
    with pytest.raises(ConflictError):
        episode(store, item, [hist(1)])
    assert snapshot(store, "sub") == before


def test_consumed_subset_leaves_the_rest_for_the_next_episode(store: Store) -> None:
    create(store, "a")
    store.enqueue([raised("a", 1), raised("a", 2)])
    item = claim_one(store)
    first = item.messages[0].id
    assert first is not None
    episode(store, item, [hist(1)], consumed=[first])
    assert [m.payload.get("Name") for m in claim_one(store).messages] == ["e1", "e2"]


def test_abandon_releases_the_lease_and_counts_the_dequeue(store: Store) -> None:
    create(store, "a")
    item = claim_one(store)
    store.abandon_orchestration(item)
    again = claim_one(store)
    assert [m.dequeue_count for m in again.messages] == [1]


def test_abandon_with_delay_hides_messages_until_the_clock_passes(store: Store, clock: FakeClock) -> None:
    create(store, "a")
    clock.now = at(100)
    store.abandon_orchestration(claim_one(store, at(100)), delay_seconds=5)
    assert claim(store, at(104)) == []
    assert store.next_visible_time() == at(105)
    assert claim_one(store, at(105)).messages[0].dequeue_count == 1


def test_abandon_after_losing_the_lease_is_a_no_op(store: Store) -> None:
    create(store, "a")
    old = claim_one(store, T0, lease=10)
    new = claim_one(store, at(11))
    store.abandon_orchestration(old, delay_seconds=0)
    assert claim(store, at(12)) == []  # the new holder still owns it
    episode(store, new, [hist(1)])
    assert store.count_messages() == 0


# -- next_visible_time -----------------------------------------------------------------------


def test_next_visible_time_is_none_without_delayed_or_leased_messages(store: Store) -> None:
    assert store.next_visible_time() is None
    create(store, "a")
    assert store.next_visible_time() is None


def test_next_visible_time_is_the_earliest_delayed_message(store: Store) -> None:
    store.enqueue(
        [raised("a", 1, visible_at=at(90)), raised("b", 1, visible_at=at(30)), work("c", 1, visible_at=at(45))]
    )
    assert store.next_visible_time() == at(30)


def test_next_visible_time_counts_leased_messages_at_lease_expiry(store: Store) -> None:
    create(store, "a")
    item = claim_one(store, T0, lease=20)
    store.enqueue([raised("a", 1)])  # blocked behind the lease, not visible to a claim
    assert store.next_visible_time() == at(20)
    episode(store, item, [hist(1)], outgoing=[work("a", 1)])
    assert store.next_visible_time() is None
    store.claim_activities(at(1), 10, 15, "w")
    assert store.next_visible_time() == at(16)


def test_consume_only_commit_deletes_messages_without_writing_a_row(store: Store) -> None:
    """Events for an id with no row (e.g. purged) are dropped: nothing but the deletion is written."""
    store.enqueue([raised("ghost", 1), raised("ghost", 2)])
    item = claim_one(store)
    assert item.instance_id == "ghost" and item.instance is None and len(item.messages) == 2
    store.commit_orchestration(item, instance=None, new_history=[], outgoing=[work("other", 1)])
    assert store.get_instance("ghost") is None and store.get_history("ghost") == []
    assert store.count_messages(ORCHESTRATOR_QUEUE) == 0 and store.count_messages(ACTIVITY_QUEUE) == 1
    assert claim(store) == []
