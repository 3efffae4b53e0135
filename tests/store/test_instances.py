"""Conformance: instance rows: create / get / replace, queries with paging, purge."""

from __future__ import annotations

from datetime import datetime

import pytest
from storekit import T0, at, claim_one, create, episode, hist, raised, record, started

from durable_local.store.base import (
    InstanceExistsError,
    InstanceQuery,
    Store,
    StoreError,
)


def test_create_then_get_returns_an_equal_record_with_etag_1(store: Store) -> None:
    rec = create(store, "a", input='{"x": 1}', parent_instance_id="p")
    got = store.get_instance("a")
    assert got == rec
    assert got is not None and got.etag == 1 == rec.etag
    assert got.created_time.tzinfo is not None and got.input == '{"x": 1}'


def test_get_unknown_instance_is_none_and_history_empty(store: Store) -> None:
    assert store.get_instance("nope") is None
    assert store.get_history("nope") == []


def test_naive_datetimes_are_taken_as_utc(store: Store) -> None:
    create(store, "a", created=datetime(2024, 1, 1))
    got = store.get_instance("a")
    assert got is not None and got.created_time == T0 and got.created_time.utcoffset() is not None


def test_create_enqueues_the_start_message_and_assigns_its_id(store: Store) -> None:
    start = started("a")
    store.create_instance(record("a"), start)
    assert start.id is not None
    [msg] = store.list_messages("a")
    assert msg.id == start.id and msg.payload == start.payload


@pytest.mark.parametrize("status", ["Pending", "Running", "Suspended", "ContinuedAsNew"])
def test_create_over_a_running_instance_raises_and_changes_nothing(store: Store, status: str) -> None:
    create(store, "a", status)
    before = store.list_messages("a")
    with pytest.raises(InstanceExistsError) as err:
        create(store, "a")
    assert err.value.code == "instance_exists"
    assert store.list_messages("a") == before
    got = store.get_instance("a")
    assert got is not None and got.runtime_status == status and got.etag == 1


def test_replacing_a_terminal_instance_clears_history_and_stale_messages(store: Store) -> None:
    create(store, "a")
    item = claim_one(store)
    episode(store, item, [hist(1), hist(2)], status="Completed")
    store.enqueue([raised("a", 1)])  # a stale event that arrived after completion
    rec = create(store, "a", input='"second"')
    assert store.get_history("a") == []
    assert [m.payload["EventType"] for m in store.list_messages("a")] == [0]
    got = store.get_instance("a")
    # the etag keeps counting, so a writer holding the old incarnation's etag cannot match
    assert got is not None and got.runtime_status == "Pending" and got.input == '"second"'
    assert got.etag == rec.etag == 3


def test_replace_refused_when_allow_replace_is_false(store: Store) -> None:
    create(store, "a", "Completed")
    with pytest.raises(InstanceExistsError):
        store.create_instance(record("a"), started("a"), allow_replace=False)


def test_returned_records_and_payloads_are_copies(store: Store) -> None:
    start = started("a")
    store.create_instance(record("a"), start)
    start.payload["Name"] = "mutated after enqueue"
    got = store.get_instance("a")
    assert got is not None
    got.runtime_status = "mutated"
    [msg] = store.list_messages("a")
    msg.payload["Name"] = "mutated after read"
    again = store.get_instance("a")
    assert again is not None and again.runtime_status == "Pending"
    assert store.list_messages("a")[0].payload["Name"] == "orch"


def test_set_instance_row_upserts_and_bumps_the_etag(store: Store) -> None:
    rec = record("a", "Failed", output="boom")
    store.set_instance_row(rec)
    assert rec.etag == 1
    rec.runtime_status = "Completed"
    store.set_instance_row(rec)
    got = store.get_instance("a")
    assert got is not None and got.runtime_status == "Completed" and got.etag == 2 == rec.etag


# -- queries ---------------------------------------------------------------------------------


def _populate(store: Store) -> None:
    for i in range(7):
        create(store, f"o{i}", "Completed" if i % 2 else "Running", created=at(i * 60))
    create(store, "@counter@k1", "Running", name="counter")
    create(store, "@counter@k2", "Running", name="counter")
    create(store, "other", "Failed", created=at(1000))


def _ids(store: Store, **kw: object) -> list[str]:
    return [r.instance_id for r in store.query_instances(InstanceQuery(top=0, **kw)).instances]  # type: ignore[arg-type]


def test_query_filters_by_status_time_prefix_and_kind(store: Store) -> None:
    _populate(store)
    assert _ids(store) == ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "other"]
    assert _ids(store, runtime_status=["Completed"]) == ["o1", "o3", "o5"]
    assert _ids(store, runtime_status=["Completed", "Failed"]) == ["o1", "o3", "o5", "other"]
    assert _ids(store, runtime_status=[]) == []
    assert _ids(store, created_from=at(120), created_to=at(240)) == ["o2", "o3", "o4"]  # inclusive
    assert _ids(store, instance_id_prefix="o") == ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "other"]
    assert _ids(store, instance_id_prefix="ot") == ["other"]
    assert _ids(store, entities=True) == ["@counter@k1", "@counter@k2"]
    assert _ids(store, entities=True, instance_id_prefix="@counter@k2") == ["@counter@k2"]


def test_query_pages_with_top_and_continuation(store: Store) -> None:
    _populate(store)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        res = store.query_instances(InstanceQuery(top=3, continuation=token))
        seen += [r.instance_id for r in res.instances]
        pages += 1
        token = res.continuation
        if token is None:
            break
        assert len(res.instances) == 3
    assert seen == ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "other"] and pages == 3


def test_query_exact_page_has_no_continuation(store: Store) -> None:
    for i in range(3):
        create(store, f"x{i}")
    res = store.query_instances(InstanceQuery(top=3))
    assert len(res.instances) == 3 and res.continuation is None


def test_query_rejects_a_forged_continuation(store: Store) -> None:
    with pytest.raises(StoreError):
        store.query_instances(InstanceQuery(continuation="not-a-token!"))


# -- purge -----------------------------------------------------------------------------------


def test_purge_instance_removes_row_history_and_messages(store: Store) -> None:
    create(store, "a")
    item = claim_one(store)
    episode(store, item, [hist(1)], status="Completed")
    store.enqueue([raised("a", 1)])
    create(store, "b")
    assert store.purge_instance("a") is True
    assert store.get_instance("a") is None and store.get_history("a") == [] and store.list_messages("a") == []
    assert store.get_instance("b") is not None and store.count_messages() == 1
    assert store.purge_instance("a") is False


def test_purge_instances_by_query_ignores_paging(store: Store) -> None:
    _populate(store)
    n = store.purge_instances(InstanceQuery(runtime_status=["Completed", "Failed"], top=1))
    assert n == 4
    assert _ids(store) == ["o0", "o2", "o4", "o6"]
    assert _ids(store, entities=True) == ["@counter@k1", "@counter@k2"]
    assert store.count_messages(target="o1") == 0
