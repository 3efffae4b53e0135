"""The HTTP start path: pre-rendered check-status payloads and the StartWriter threads."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from durable_local.http import durable_api, starter
from durable_local.http import operations as ops
from durable_local.http.payloads import CheckStatusTemplate, check_status_payload

W = "/runtime/webhooks/durabletask"


@pytest.mark.parametrize("origin", ["http://127.0.0.1:7071", 'https://we"ird\\host:1', "http://hé.example"])
@pytest.mark.parametrize("hub", ["TestHubName", "hub with/&=é"])
@pytest.mark.parametrize("key", [None, "k3y==&/+", 'é"\\'])
def test_template_renders_exactly_the_json_of_check_status_payload(origin: str, hub: str, key: str | None) -> None:
    template = CheckStatusTemplate(origin, hub, system_key=key)
    for iid in ["abc", "a b/c?#%", 'é\u2028"\\x', "INSTANCEID", "\x00INSTANCEID\x00", "0" * 256]:
        payload = check_status_payload(origin, iid, hub, system_key=key)
        body, location = template.render(iid)
        assert body == json.dumps(payload).encode()
        assert location == payload["statusQueryGetUri"]


def test_template_refuses_a_marker_in_the_origin_and_the_api_falls_back() -> None:
    with pytest.raises(ValueError):
        CheckStatusTemplate("http://a\x00INSTANCEID\x00", "hub")
    assert durable_api._template("http://a\x00INSTANCEID\x00", "hub", None) is None


async def test_start_response_is_the_check_status_payload_with_its_headers(srv: Any) -> None:
    code, body, headers = await srv.call(
        "POST", f"{W}/orchestrators/hello_orchestrator/s-1", data='"x"', headers={"Content-Type": "application/json"}
    )
    assert code == 202
    assert body == check_status_payload(srv.base, "s-1", "TestHubName")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Location"] == body["statusQueryGetUri"] and headers["Retry-After"] == "10"


async def test_concurrent_starts_are_all_committed_before_their_202(srv: Any) -> None:
    async def one(i: int) -> tuple[int, Any]:
        code, body, _ = await srv.call(
            "POST", f"{W}/orchestrators/hello_orchestrator/c-{i}", data=str(i), headers={"Content-Type": "x"}
        )
        # the 202 comes after the commit: the row is there when the response is
        assert srv.store.get_instance(f"c-{i}") is not None
        return code, body

    results = await asyncio.gather(*(one(i) for i in range(60)))
    assert [code for code, _ in results] == [202] * 60
    assert {body["id"] for _, body in results} == {f"c-{i}" for i in range(60)}
    assert srv.notified
    writer = srv.server.app[starter.START_WRITER]
    assert 1 <= len(writer._threads) <= starter.MAX_THREADS
    # 409 and 400 still come through the writer / the validation on the loop
    code, err, _ = await srv.call("POST", f"{W}/orchestrators/hello_orchestrator/c-1", data="1")
    assert code == 409 and "already exists" in err["ExceptionMessage"]
    code, err, _ = await srv.call("POST", f"{W}/orchestrators/hello_orchestrator/bad%23id", data="1")
    assert code == 400 and srv.store.get_instance("bad#id") is None


async def test_store_errors_become_500_and_the_writer_keeps_working(srv: Any) -> None:
    real = srv.store.create_instance
    calls = {"n": 0}

    def flaky(record: Any, start: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk on fire")
        real(record, start, **kw)

    srv.store.create_instance = flaky
    code, body, _ = await srv.call("POST", f"{W}/orchestrators/hello_orchestrator/e-1", data="1")
    assert code == 500 and "disk on fire" not in json.dumps(body)
    code, _, _ = await srv.call("POST", f"{W}/orchestrators/hello_orchestrator/e-1", data="1")
    assert code == 202 and srv.store.get_instance("e-1") is not None


async def test_writer_commits_on_its_threads_and_close_stops_them() -> None:
    from tests.http.conftest import make_ctx

    ctx = make_ctx()
    notified: list[int] = []
    ctx.notify = lambda: notified.append(1)
    seen: set[str] = set()
    real = ctx.store.create_instance

    def create(record: Any, start: Any, **kw: Any) -> None:
        seen.add(threading.current_thread().name)
        real(record, start, **kw)

    ctx.store.create_instance = create  # type: ignore[method-assign]
    writer = starter.StartWriter(ctx, max_threads=3)
    rows = [ops.prepare_start(ctx, "hello_orchestrator", f"t-{i}", None) for i in range(20)]
    await asyncio.gather(*(writer.commit(rec, msg) for rec, msg in rows))
    assert all(ctx.store.get_instance(f"t-{i}") is not None for i in range(20))
    assert seen and all(name.startswith("durable-start-") for name in seen)
    assert 1 <= len(writer._threads) <= 3 and notified
    with pytest.raises(ops.Conflict):
        await writer.commit(*rows[0])
    threads = list(writer._threads)
    await writer.close()
    assert not any(t.is_alive() for t in threads)
    # after close: still correct, on the default executor
    rec, msg = ops.prepare_start(ctx, "hello_orchestrator", "late", None)
    await writer.commit(rec, msg)
    assert ctx.store.get_instance("late") is not None


def _gate_first_create(ctx: Any) -> threading.Event:
    """Hold the writer's first create until the test opens the gate (so the rest queue up)."""
    gate = threading.Event()
    real = ctx.store.create_instance
    calls = {"n": 0}

    def create(record: Any, start: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            gate.wait(10)
        real(record, start, **kw)

    ctx.store.create_instance = create
    return gate


async def _queued(writer: starter.StartWriter, n: int) -> None:
    for _ in range(500):
        if writer._queue.qsize() >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the starts did not queue up")


async def test_writer_batches_queued_starts_in_one_sqlite_transaction(tmp_path: Any) -> None:
    from durable_local.store.sqlite import SqliteStore
    from tests.http.conftest import make_ctx

    ctx = make_ctx()
    store = SqliteStore(tmp_path / "s.db")
    ctx.store = store
    ctx.notify = lambda: None
    gate = _gate_first_create(ctx)
    batches: list[int] = []
    real_batch = store.batch

    def batch() -> Any:
        batches.append(1)
        return real_batch()

    store.batch = batch  # type: ignore[method-assign]
    writer = starter.StartWriter(ctx, max_threads=1)
    assert writer._max_batch == starter.MAX_BATCH
    rows = [ops.prepare_start(ctx, "hello_orchestrator", f"b-{i}", None) for i in range(10)]
    rows.append(ops.prepare_start(ctx, "hello_orchestrator", "b-3", None))  # a duplicate inside the batch
    task = asyncio.gather(*(writer.commit(rec, msg) for rec, msg in rows), return_exceptions=True)
    await _queued(writer, 10)
    gate.set()
    results = await task
    assert results[:10] == [None] * 10
    assert isinstance(results[10], ops.Conflict)  # only the duplicate fails; the others stand
    assert batches == [1]  # b-0 alone (gated), then the 10 queued ones in one transaction
    assert all(store.get_instance(f"b-{i}").runtime_status == "Pending" for i in range(10))
    assert len(store.list_messages("b-3")) == 1
    await writer.close()
    store.close()


async def test_a_failed_batch_commit_fails_every_start_in_it(tmp_path: Any) -> None:
    import contextlib

    from durable_local.store.sqlite import SqliteStore
    from tests.http.conftest import make_ctx

    ctx = make_ctx()
    ctx.store = SqliteStore(tmp_path / "s.db")
    ctx.notify = lambda: None
    gate = _gate_first_create(ctx)

    @contextlib.contextmanager
    def failing_batch() -> Any:
        yield
        raise OSError("fsync failed")

    writer = starter.StartWriter(ctx, max_threads=1)
    writer._batch = failing_batch
    rows = [ops.prepare_start(ctx, "hello_orchestrator", f"f-{i}", None) for i in range(5)]
    task = asyncio.gather(*(writer.commit(rec, msg) for rec, msg in rows), return_exceptions=True)
    await _queued(writer, 4)
    gate.set()
    results = await task
    assert results[0] is None  # committed on its own
    assert all(isinstance(r, OSError) for r in results[1:])  # the batch's error reaches each of its starts
    await writer.close()
    ctx.store.close()
