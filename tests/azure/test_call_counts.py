"""Storage calls per orchestration on the Azure backend: counted where each HTTP request
leaves (``AzureStore.stats()``), classified by kind, and kept from creeping back up."""

from __future__ import annotations

from storekit import at, claim_one, create, episode, hist, raised, row_for, work

from durable_local.store.azure import AzureStore
from durable_local.store.azure_codec import key_of
from durable_local.store.azure_http import call_kind
from durable_local.store.base import InstanceQuery


def test_requests_are_classified_by_service_and_operation() -> None:
    acct = "/devstoreaccount1"
    assert call_kind("queue", "POST", f"{acct}/hub-control-00/messages?visibilitytimeout=0") == "queue put"
    assert call_kind("queue", "GET", f"{acct}/hub-control-00/messages?numofmessages=32") == "queue get"
    assert call_kind("queue", "GET", f"{acct}/hub-workitems/messages?peekonly=true") == "queue peek"
    assert call_kind("queue", "PUT", f"{acct}/hub-workitems/messages/abc?popreceipt=x") == "queue update"
    assert call_kind("queue", "DELETE", f"{acct}/hub-workitems/messages/abc?popreceipt=x") == "queue delete"
    assert call_kind("queue", "PUT", f"{acct}/hub-workitems") == "queue admin"
    assert call_kind("table", "POST", f"{acct}/$batch") == "table batch"
    assert call_kind("table", "POST", f"{acct}/Tables") == "table admin"
    assert call_kind("table", "POST", f"{acct}/HubHistory") == "table insert"
    assert call_kind("table", "GET", f"{acct}/HubHistory(PartitionKey='a',RowKey='sentinel')") == "table query"
    assert call_kind("table", "PUT", f"{acct}/HubInstances(PartitionKey='a',RowKey='')") == "table update"
    assert call_kind("table", "MERGE", f"{acct}/HubHistory(PartitionKey='a',RowKey='sentinel')") == "table merge"
    assert call_kind("blob", "PUT", f"{acct}/hub-largemessages/a/b.json.gz") == "blob put"


def test_the_instances_row_skips_commits_that_only_move_the_time(store: AzureStore) -> None:
    key = key_of("r")
    create(store, "r")
    episode(store, claim_one(store), [hist(0)])  # Pending -> Running: projected
    running = store.tables.get_row(key)
    assert running is not None and running["RuntimeStatus"] == "Running"
    store.enqueue([raised("r", 1)])
    item = claim_one(store, at(1))
    store.commit_orchestration(item, instance=row_for(item, last_updated_time=at(1)), new_history=[hist(1)])
    assert store.tables.get_row(key) == running  # only the time moved: the row was not written
    assert store.get_instance("r").last_updated_time == at(1)  # type: ignore[union-attr]  # the sentinel's
    store.enqueue([raised("r", 2)])
    item = claim_one(store, at(2))
    done = row_for(item, "Completed", last_updated_time=at(2), output='"ok"')
    store.commit_orchestration(item, instance=done, new_history=[hist(2)])
    [listed] = store.query_instances(InstanceQuery(top=0)).instances
    assert listed == store.get_instance("r") and listed.runtime_status == "Completed"
    assert listed.last_updated_time == at(2) and listed.output == '"ok"'


def _chain(store: AzureStore, instance_id: str, steps: int) -> None:
    """What the host does for a chain of ``steps`` activities: create, then per step an
    episode that schedules the activity and the activity's completion; a last episode."""
    create(store, instance_id)
    for step in range(steps):
        item = claim_one(store, at(step))
        episode(store, item, [hist(step)], outgoing=[work(instance_id, step)])
        [act] = store.claim_activities(at(step), 5, 30, "w")
        store.complete_activity(act, raised(instance_id, step))
    episode(store, claim_one(store, at(steps)), [hist(steps)], status="Completed")


def test_a_chain_costs_a_bounded_number_of_storage_calls(store: AzureStore) -> None:
    assert isinstance(store, AzureStore)
    store.poll_interval = 1.0  # as a host runs it (the tests' exact mode receives at every claim)
    before = store.stats()
    _chain(store, "chain", 5)
    after = store.stats()
    calls = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert store.get_instance("chain").runtime_status == "Completed"  # type: ignore[union-attr]
    # each message is sent once and deleted once: the start, 5 activities, 5 results
    assert calls["queue put"] == 11 and calls["queue delete"] == 11
    # one entity-group transaction per episode (history rows + sentinel + record)
    assert calls["table batch"] == 6
    # what this store sent it holds hidden with the send's receipt: no receive, no re-hide
    # (the receives left: the first claims, and the start, sent before this store claimed)
    assert calls.get("queue get", 0) <= 7 and calls.get("queue update", 0) == 0
    # the outbox is marked sent by the next claim's lease write, not by a write of its own
    assert "table merge" not in calls
    # a lease per claim (6); the Instances row only when more than the time changed: Pending
    # (an insert, with the sentinel's), Running, Completed
    assert calls["table update"] == 6 + 2 and calls["table insert"] == 2
    total = sum(calls.values())
    assert total <= 45, calls
