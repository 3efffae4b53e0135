"""The Azure backend writes DurableTask.AzureStorage's layout, so DF Monitor / Storage
Explorer can read it: table and queue names, keys, columns, partitioning, blob offload."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient
from storekit import T0, FakeClock, at, claim_one, create, episode, hist, raised, work

from durable_local.store.azure import AzureStore
from durable_local.store.azure_codec import LARGE_BYTES, fnv1a32, key_of, partition_of, queue_prefix, table_prefix
from durable_local.store.base import ACTIVITY_QUEUE
from tests.azurite import azure_test_store


def _tables(conn: str) -> TableServiceClient:
    return TableServiceClient.from_connection_string(conn)


def test_resource_names_follow_the_hub(store: AzureStore, conn: str) -> None:
    hub = store.hub_name
    tables = {t.name for t in _tables(conn).list_tables()}
    assert {f"{hub}Instances", f"{hub}History"} <= tables
    queues = {q.name for q in QueueServiceClient.from_connection_string(conn).list_queues()}
    low = hub.lower()
    assert {f"{low}-control-00", f"{low}-control-01", f"{low}-control-02", f"{low}-control-03"} <= queues
    assert f"{low}-workitems" in queues and f"{low}-control-04" not in queues
    containers = {c.name for c in BlobServiceClient.from_connection_string(conn).list_containers()}
    assert f"{low}-largemessages" in containers


def test_hub_names_are_sanitised_for_tables_and_queues() -> None:
    assert table_prefix("My_Hub-1") == "MyHub1" and table_prefix("1hub") == "t1hub"
    assert queue_prefix("My_Hub--1") == "my-hub-1" and queue_prefix("X") == "xhu"


def test_instances_row_has_the_dtfx_columns(store: AzureStore, conn: str) -> None:
    create(store, "order-1", input='{"x": 1}', parent_instance_id="p")
    row = _tables(conn).get_table_client(f"{store.hub_name}Instances").get_entity("order-1", "")
    assert row["Name"] == "orch" and row["RuntimeStatus"] == "Pending" and row["Input"] == '{"x": 1}'
    assert row["CreatedTime"] == T0 and row["LastUpdatedTime"] == T0 and row["Etag"] == 1
    assert row["ParentInstanceId"] == "p" and row["ExecutionId"] == "" and "Output" not in row


def test_history_rows_are_hex_sequenced_with_a_sentinel(store: AzureStore, conn: str) -> None:
    create(store, "h")
    events = [hist(i) for i in range(11)]
    episode(store, claim_one(store), events, outgoing=[work("h", 1)])
    table = _tables(conn).get_table_client(f"{store.hub_name}History")
    rows = {r["RowKey"]: r for r in table.query_entities("PartitionKey eq 'h'")}
    assert sorted(rows) == [f"{i:016X}" for i in range(11)] + ["sentinel"]
    assert "000000000000000A" in rows
    first = rows["0000000000000000"]
    assert first["EventType"] == "TaskScheduled" and first["EventId"] == 0 and first["Name"] == "act"
    assert first["_Timestamp"] == "2024-01-01T00:00:00.0000000Z" and json.loads(first["EventJson"]) == hist(0)
    sentinel = rows["sentinel"]
    assert sentinel["HistoryCount"] == 11 and sentinel["InstanceEtag"] == 2 and sentinel["LeaseToken"] == ""
    # the outbox was sent; the row says so at the next write (the next claim's lease)
    assert sentinel["OutboxPending"] is True and len(json.loads(sentinel["Outbox"])) == 1
    store.enqueue([raised("h", 1)])
    claim_one(store, at(1))
    sentinel = table.get_entity("h", "sentinel")
    assert sentinel["OutboxPending"] is False and sentinel["LeaseToken"] != ""


def test_rows_past_the_sentinel_count_are_ignored(store: AzureStore, conn: str) -> None:
    create(store, "h")
    episode(store, claim_one(store), [hist(1)])
    table = _tables(conn).get_table_client(f"{store.hub_name}History")
    stray = {"PartitionKey": "h", "RowKey": f"{5:016X}", "EventJson": json.dumps(hist(99))}
    table.upsert_entity(stray)  # e.g. a large commit that lost its race half-way
    assert store.get_history("h") == [hist(1)]


def test_fnv1a_partitioning_of_control_queues(store: AzureStore, conn: str) -> None:
    assert fnv1a32(b"") == 0x811C9DC5 and fnv1a32(b"a") == 0xE40C292C and fnv1a32(b"foobar") == 0xBF9CF968
    ids = [f"inst-{i}" for i in range(12)]
    store.enqueue([raised(i, 1) for i in ids])
    qs = QueueServiceClient.from_connection_string(conn)
    low = store.hub_name.lower()
    seen: dict[str, int] = {}
    for n in range(4):
        for m in qs.get_queue_client(f"{low}-control-{n:02d}").peek_messages(max_messages=32):
            seen[json.loads(m.content)["Target"]] = n
    assert seen == {i: partition_of(i, 4) for i in ids} and len(set(seen.values())) > 1
    store.enqueue([work("inst-0", 1)])
    [m] = qs.get_queue_client(f"{low}-workitems").peek_messages()
    assert json.loads(m.content)["Queue"] == ACTIVITY_QUEUE


def test_large_values_go_to_gzip_blobs_and_read_back(store: AzureStore, conn: str) -> None:
    big = json.dumps("x" * (LARGE_BYTES // 2 + 10))  # > 45 KiB in UTF-16
    small = json.dumps("y" * (LARGE_BYTES // 2 - 100))
    create(store, "big", input=big, custom_status=small)
    tables = _tables(conn)
    row = tables.get_table_client(f"{store.hub_name}Instances").get_entity("big", "")
    assert row["Input"] == "" and row["InputBlobName"] and row["CustomStatus"] == small
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        f"{store.hub_name.lower()}-largemessages"
    )
    assert gzip.decompress(container.download_blob(row["InputBlobName"]).readall()).decode() == big
    got = store.get_instance("big")
    assert got is not None and got.input == big and got.custom_status == small

    # a queue message over 45 KiB carries a CompressedBlobName instead of its payload
    payload = {"EventType": 15, "Name": "e", "Input": "z" * (LARGE_BYTES + 1)}
    store.enqueue([raised("big", 1)])
    store.enqueue([type(raised("big", 2))(target="big", payload=payload)])
    low = store.hub_name.lower()
    q = QueueServiceClient.from_connection_string(conn).get_queue_client(f"{low}-control-{partition_of('big', 4):02d}")
    bodies = [json.loads(m.content) for m in q.peek_messages(max_messages=32)]
    assert [b["CompressedBlobName"] is not None for b in bodies if "CompressedBlobName" in b] == [True]
    item = claim_one(store)
    assert item.history == [] and item.messages[-1].payload == payload

    # and a history event with a large field: EventJson and the column both offloaded
    event = {**hist(1), "Result": "r" * (LARGE_BYTES + 1)}
    episode(store, item, [event])
    hrow = tables.get_table_client(f"{store.hub_name}History").get_entity("big", "0000000000000000")
    assert hrow["EventJson"] == "" and hrow["EventJsonBlobName"] and hrow["ResultBlobName"]
    assert store.get_history("big") == [event]
    assert store.purge_instance("big") and list(container.list_blobs(name_starts_with="big/")) == []


def test_a_44_kib_payload_stays_inline(store: AzureStore) -> None:
    text = "s" * (44 * 1024 // 2)
    create(store, "mid", input=text)
    row = store.tables.get_row("mid")
    assert row is not None and row["Input"] == text and "InputBlobName" not in row


def test_instance_ids_with_key_forbidden_characters_round_trip(store: AzureStore) -> None:
    weird = "@ent@a/b#c?d\\e%f"
    assert key_of(weird) == "@ent@a%2Fb%23c%3Fd%5Ce%25f"
    create(store, weird, "Running")
    episode(store, claim_one(store), [hist(1)])
    got = store.get_instance(weird)
    assert got is not None and got.instance_id == weird and store.get_history(weird) == [hist(1)]
    assert [m.target for m in store.list_messages(weird)] == []
    assert store.purge_instance(weird) and store.get_instance(weird) is None


def test_timers_beyond_the_queue_limit_of_seven_days() -> None:
    """Visibility timeouts stop at 7 days: a 30-day timer is sent hidden for 7 days, found
    not due when it surfaces, hidden again; the holder still fires it on (virtual) time."""
    now = datetime.now(timezone.utc)
    clock = FakeClock(now)
    s = azure_test_store(clock)
    try:
        far = now + timedelta(days=30)
        s.enqueue([raised("t", 1, visible_at=far)])
        assert s.next_visible_time() == far
        assert s.claim_orchestrations(now + timedelta(days=29), 10, 30, "w") == []
        [item] = s.claim_orchestrations(far, 10, 30, "w")
        assert item.messages[0].visible_at == far
    finally:
        s.close()
