"""Azure-specific behaviour beyond the conformance suite: opening errors, several processes
on one hub (leases live in storage, not in memory), outbox recovery after a crash."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from storekit import T0, at, claim, claim_one, create, episode, hist, raised, work

from durable_local.store import open_store
from durable_local.store.azure import DEV_STORAGE, AzureStore, expand_connection_string, open_azure_store
from durable_local.store.base import ACTIVITY_QUEUE, ConflictError, StoreError
from tests.azurite import KEY, azure_test_store


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_account_raises_a_clear_store_error_quickly() -> None:
    port = _closed_port()
    conn = DEV_STORAGE.replace("10000", str(port)).replace("10001", str(port)).replace("10002", str(port))
    started = time.monotonic()
    with pytest.raises(StoreError) as err:
        AzureStore(conn, "Hub")
    assert time.monotonic() - started < 10
    msg = str(err.value)
    assert "cannot reach Azure Storage" in msg and str(port) in msg and KEY not in msg


def test_wrong_key_and_garbage_connection_strings_raise_store_error(conn: str) -> None:
    bad_key = conn.replace(KEY, "AAAA" + KEY[4:])
    with pytest.raises(StoreError, match=r"credentials|403"):
        AzureStore(bad_key, "Hub")
    with pytest.raises(StoreError, match="invalid AzureWebJobsStorage"):
        AzureStore("this is not a connection string", "Hub")


def test_missing_setting_names_azurewebjobsstorage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    with pytest.raises(StoreError, match="AzureWebJobsStorage"):
        open_azure_store(None, hub_name="Hub")


def test_open_store_reads_the_connection_string_from_the_environment(
    conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", conn)
    s = open_store("azure", Path("."), hub_name="EnvHub", delete_hub_on_close=True)
    try:
        assert isinstance(s, AzureStore) and s.hub_name == "EnvHub" and s.poll_interval == 1.0
    finally:
        s.close()


def test_use_development_storage_means_azurite_defaults() -> None:
    assert expand_connection_string("UseDevelopmentStorage=true") == DEV_STORAGE
    assert expand_connection_string("AccountName=x;AccountKey=y") == "AccountName=x;AccountKey=y"


def test_polling_mode_never_sleeps_past_the_poll_interval(store: AzureStore) -> None:
    store.poll_interval = 0.5
    store.claim_orchestrations(T0, 1, 30, "w")  # learns the callers' clock from `now`
    nxt = store.next_visible_time()
    assert nxt is not None and abs((nxt - T0).total_seconds() - 0.5) < 0.5


def test_polling_mode_receives_its_own_sends_at_once_and_skips_drained_queues(store: AzureStore) -> None:
    other = azure_test_store(hub_name=store.hub_name, delete_hub_on_close=False)
    try:
        store.poll_interval = 60.0  # a claim may skip a queue found drained in the last 30 s
        assert claim(store) == []  # every control queue is now known drained
        create(store, "mine")  # our own send marks its queue: the next claim receives it
        assert [i.instance_id for i in claim(store)] == ["mine"]
        create(other, "theirs")  # another process's message: not looked for until the poll
        assert claim(store) == []
        store.poll_interval = 0.0
        assert [i.instance_id for i in claim(store)] == ["theirs"]
    finally:
        other.close()


# -- several processes on one hub --------------------------------------------------------------


def test_a_second_process_respects_the_lease_and_takes_over_after_release(store: AzureStore) -> None:
    other = azure_test_store(hub_name=store.hub_name, delete_hub_on_close=False)
    try:
        create(store, "a")
        item = claim_one(store)
        other.enqueue([raised("a", 1)])  # arrives while `store` holds the lease
        assert claim(other) == [] and claim(store) == []
        episode(store, item, [hist(1)])
        [nxt] = claim(other, at(1))  # `other` holds the new message's receipt
        assert [m.payload["Name"] for m in nxt.messages] == ["e1"] and nxt.history == [hist(1)]
        episode(other, nxt, [hist(2)])
        assert store.get_history("a") == [hist(1), hist(2)]
    finally:
        other.close()


def test_an_activity_claimed_by_one_process_is_invisible_to_another(store: AzureStore) -> None:
    other = azure_test_store(hub_name=store.hub_name, delete_hub_on_close=False)
    try:
        other.enqueue([work("a", 1)])
        [mine] = store.claim_activities(T0, 5, 30, "w1")
        assert other.claim_activities(at(60), 5, 30, "w2") == []  # hidden for real, not by our clock
        store.complete_activity(mine, raised("a", 1))
        assert other.count_messages(ACTIVITY_QUEUE) == 0
    finally:
        other.close()


def test_a_host_keeps_what_it_sends_hidden_until_it_closes(store: AzureStore) -> None:
    host = azure_test_store(hub_name=store.hub_name, delete_hub_on_close=False)
    try:
        create(host, "a")
        assert host.claim_activities(T0, 5, 30, "w") == []  # a host that claims hides what it sends
        episode(host, claim_one(host), [hist(1)], outgoing=[work("a", 7)])
        assert store.claim_activities(T0, 5, 30, "w") == []  # another process does not see it...
    finally:
        host.close()  # ...until the host stops: then at once, not after the lease
    [act] = store.claim_activities(T0, 5, 30, "w")
    assert act.payload["TaskId"] == 7


def test_a_crash_after_the_commit_resends_the_outbox_at_the_next_claim(store: AzureStore) -> None:
    create(store, "a")
    item = claim_one(store, lease=1)

    def crash(*_: object, **__: object) -> None:
        raise StoreError("simulated crash before the outbox was sent")

    store.queues.send = crash  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="simulated crash"):
        episode(store, item, [hist(1)], outgoing=[work("a", 7)])
    restarted = azure_test_store(hub_name=store.hub_name, delete_hub_on_close=False)
    try:
        deadline = time.monotonic() + 10
        while not (items := claim(restarted, at(5))) and time.monotonic() < deadline:
            time.sleep(0.2)  # the consumed start message reappears after its 1 s visibility timeout
        [again] = items
        assert again.history == [hist(1)] and [m.payload["EventType"] for m in again.messages] == [0]
        [act] = restarted.claim_activities(at(5), 5, 30, "w")
        assert act.payload["TaskId"] == 7  # the outbox was sent by the claim
    finally:
        restarted.close()


# -- big episodes --------------------------------------------------------------------------------


def test_a_commit_larger_than_one_table_transaction_is_chunked_and_atomic(store: AzureStore) -> None:
    create(store, "big")
    events = [hist(i) for i in range(250)]  # 3 transactions of <= 100 operations
    episode(store, claim_one(store), events)
    assert store.get_history("big") == events
    store.enqueue([raised("big", 1)])
    old = claim_one(store, at(1), lease=5)
    new = claim_one(store, at(10))  # takes the expired lease over
    with pytest.raises(ConflictError):
        episode(store, old, [hist(1000 + i) for i in range(150)])
    assert store.get_history("big") == events  # the stale writer wrote no visible row
    episode(store, new, [hist(2000)])
    assert store.get_history("big") == [*events, hist(2000)]


def test_fan_out_then_all_completions_coalesce_into_one_episode(store: AzureStore) -> None:
    n = 120
    create(store, "fan")
    episode(store, claim_one(store), [hist(0)], outgoing=[work("fan", i) for i in range(n)])
    done = 0
    while done < n:
        for act in store.claim_activities(at(1), 50, 30, "w"):
            store.complete_activity(act, raised("fan", act.payload["TaskId"]))
            done += 1
    [item] = claim(store, at(2))
    assert sorted(int(m.payload["Input"]) for m in item.messages) == list(range(n))
    episode(store, item, [hist(1)])
    assert store.count_messages() == 0


# -- claims racing commits on one store ------------------------------------------------------------


def test_a_claim_racing_a_commit_never_hands_out_a_message_the_commit_consumed(store: AzureStore) -> None:
    """The rare duplicate consumption of the thread hammer (test_concurrency), made
    deterministic: a claim snapshots the due messages while an episode still holds the
    instance, the episode commits (deleting its messages) before the claim looks at the
    instance's lease, and the claim must not hand the deleted messages out again."""
    create(store, "a")
    item = claim_one(store)
    real_due = store.queues.due
    done: list[bool] = []

    def due_then_commit(*args: object) -> object:
        snapshot = real_due(*args)  # type: ignore[arg-type]
        if not done:
            done.append(True)
            episode(store, item, [hist(1)])  # commits, deletes the start message, ends the lease
        return snapshot

    store.queues.due = due_then_commit  # type: ignore[method-assign]
    assert claim(store) == []
    store.queues.due = real_due  # type: ignore[method-assign]
    store.enqueue([raised("a", 1)])
    [again] = claim(store)
    assert [m.payload["Name"] for m in again.messages] == ["e1"] and again.history == [hist(1)]
