"""W1–W13 (docs/BENCHMARKS.md) on durable_local. Each function is one run and returns raw figures.

``value`` is the headline figure of the run, ``floor`` the SDK floor for the same histories
(same unit), other keys are details for the notes column.
"""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from durable_local.http import operations as ops

from . import floor
from .common import REPO, Cfg, done_count, host, latency_ms, median, pct, records, start, throughput, wait_done

FLOOR_SAMPLE = 100  # histories replayed for the SDK floor of many-instance workloads


def _floor_rate(name: str, h: Any, ids: list[str], units: float = 1.0) -> float:
    """units/s the bare SDK would manage on one core for the same histories."""
    sample = [(i, h.store.get_history(i)) for i in ids[: min(len(ids), FLOOR_SAMPLE)]]
    per = floor.sdk_seconds(name, sample) / len(sample)
    return units / per


async def w1(cfg: Cfg, n: int = 1000, length: int = 5) -> dict[str, Any]:
    """n orchestrations of `length` sequential echo activities, started together: orch/s."""
    async with host(cfg) as h:
        cpu = time.process_time()
        ids = [start(h, "chain", str(length)) for _ in range(n)]
        await wait_done(h, n)
        # the whole process (host, store, SDK, this harness's polling) ÷ orchestrations
        cpu_ms = (time.process_time() - cpu) * 1000 / n
        recs = records(h, ids)
        fl = _floor_rate("chain", h, ids)
    return {"value": throughput(recs), "floor": fl, "p50_ms": median([latency_ms(r) for r in recs]), "cpu_ms": cpu_ms}


async def _one_by_one(h: Any, name: str, input_text: str, n: int) -> list[float]:
    lat = []
    for _ in range(n):
        iid = start(h, name, input_text)
        while True:
            rec = await asyncio.to_thread(h.store.get_instance, iid)
            if rec is not None and rec.runtime_status in ("Completed", "Failed", "Terminated"):
                break
            await asyncio.sleep(0.001)
        assert rec.runtime_status == "Completed", rec.output
        lat.append(latency_ms(rec))
    return lat


async def w2(cfg: Cfg, n: int = 50) -> dict[str, Any]:
    """One 5-activity orchestration at a time on an idle host: start→complete p50/p99 (ms)."""
    async with host(cfg) as h:
        await _one_by_one(h, "chain", "5", 2)  # warm
        lat = await _one_by_one(h, "chain", "5", n)
    return {"value": median(lat), "p99": pct(lat, 99)}


async def w3(cfg: Cfg, n: int = 500) -> dict[str, Any]:
    """The app's own order workflow, n concurrent orders over HTTP: orders/s and p50."""
    import aiohttp

    os.environ.setdefault("APPROVAL_THRESHOLD_CENTS", "100000000")
    os.environ.setdefault("TASK_HUB_NAME", "BenchHub")
    with tempfile.TemporaryDirectory(prefix="dl-bench-sandbox-") as sandbox:
        os.environ["SANDBOX_DATA_DIR"] = sandbox
        async with host(cfg, REPO, http=True) as h:
            base = h.base_url
            conn = aiohttp.TCPConnector(limit=50)
            async with aiohttp.ClientSession(connector=conn) as s:
                for sku in ("SKU-A", "SKU-B"):
                    async with s.post(f"{base}/api/inventory/{sku}", json={"quantity": 10 * n}) as r:
                        assert r.status == 202, await r.text()
                ent = [e for e in ("@inventoryentity@SKU-A", "@inventoryentity@SKU-B")]
                while True:  # stock is in place once both entities have a state
                    recs = [h.store.get_instance(e) for e in ent]
                    if all(r is not None and r.entity_exists for r in recs):
                        break
                    await asyncio.sleep(0.01)
                ids = [f"bench-order-{i}-{time.time_ns()}" for i in range(n)]

                async def post(oid: str) -> None:
                    body = {
                        "orderId": oid,
                        "customerId": "cust-1",
                        "currency": "USD",
                        "items": [
                            {"id": "line-1", "productId": "SKU-A", "quantity": 1, "unitPriceCents": 1000},
                            {"id": "line-2", "productId": "SKU-B", "quantity": 2, "unitPriceCents": 250},
                        ],
                        "paymentMethod": {"cardNumber": "4242424242424242"},
                        "shippingAddress": {
                            "name": "Ada",
                            "line1": "1 Main St",
                            "city": "Seattle",
                            "postalCode": "98101",
                            "country": "US",
                        },
                    }
                    async with s.post(f"{base}/api/orders", json=body) as r:
                        assert r.status in (200, 201, 202), await r.text()

                await asyncio.gather(*(post(i) for i in ids))
            await wait_done(h, n, timeout=900)  # counts sub-orchestrations too: then wait per order
            deadline = time.monotonic() + 900
            for oid in ids:
                while time.monotonic() < deadline:
                    rec = h.store.get_instance(oid)
                    if rec is not None and rec.runtime_status in ("Completed", "Failed", "Terminated"):
                        break
                    await asyncio.sleep(0.02)
            recs = records(h, ids)
    return {"value": throughput(recs), "p50_ms": median([latency_ms(r) for r in recs])}


async def chain_once(cfg: Cfg, length: int, with_floor: bool = True) -> dict[str, Any]:
    """One chain of `length` activities: wall (created→completed), process CPU and its SDK
    floor (s; NaN when ``with_floor`` is false: the floor of a long chain takes minutes)."""
    async with host(cfg) as h:
        cpu = time.process_time()
        iid = start(h, "chain", str(length))
        await wait_done(h, 1, timeout=3600, poll=0.05)
        cpu = time.process_time() - cpu
        rec = records(h, [iid])[0]
        sdk = floor.sdk_seconds("chain", [(iid, h.store.get_history(iid))]) if with_floor else float("nan")
    wall = (rec.last_updated_time - rec.created_time).total_seconds()
    return {"wall": wall, "sdk": sdk, "cpu": cpu}


async def w4(cfg: Cfg, length: int = 100) -> dict[str, Any]:
    r = await chain_once(cfg, length)
    return {"value": length / r["wall"], "floor": length / r["sdk"]}


async def w5(cfg: Cfg, length: int, with_floor: bool = True) -> dict[str, Any]:
    r = await chain_once(cfg, length, with_floor)
    return {"value": r["wall"] / r["sdk"], "wall": r["wall"], "sdk": r["sdk"], "cpu": r["cpu"]}


async def fan_once(cfg: Cfg, width: int) -> dict[str, Any]:
    async with host(cfg) as h:
        iid = start(h, "fan", str(width))
        await wait_done(h, 1, timeout=3600, poll=0.01)
        rec = records(h, [iid])[0]
        sdk = floor.sdk_seconds("fan", [(iid, h.store.get_history(iid))])
        episodes = sum(1 for e in h.store.get_history(iid) if e["EventType"] == 12)
    wall = (rec.last_updated_time - rec.created_time).total_seconds()
    return {"wall": wall, "sdk": sdk, "episodes": episodes}


async def w6(cfg: Cfg, width: int = 1000) -> dict[str, Any]:
    r = await fan_once(cfg, width)
    return {"value": width / r["wall"], "floor": width / r["sdk"], "episodes": r["episodes"]}


async def w7(cfg: Cfg, width: int) -> dict[str, Any]:
    r = await fan_once(cfg, width)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"value": r["wall"], "floor": r["sdk"], "rss_mb": rss_mb, "episodes": r["episodes"]}


async def w8(cfg: Cfg, n: int = 3000, conns: int = 30) -> dict[str, Any]:
    """Durable starts through the HTTP API from a separate client process, 30 connections."""
    import subprocess
    import sys

    async with host(cfg, http=True) as h:
        code = (
            "import asyncio,aiohttp,time,json,sys\n"
            "async def main(url,n,c):\n"
            "    lat=[]; q=list(range(n))\n"
            "    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:\n"
            "        async def one():\n"
            "            while q:\n"
            "                q.pop(); t=time.perf_counter()\n"
            "                async with s.post(url, data='0', headers={'Content-Type':'application/json'}) as r:\n"
            "                    await r.read(); assert r.status==202, r.status\n"
            "                lat.append(time.perf_counter()-t)\n"
            "        t0=time.perf_counter(); await asyncio.gather(*(one() for _ in range(c)))\n"
            "        print(json.dumps({'wall':time.perf_counter()-t0,'lat':lat}))\n"
            "asyncio.run(main(sys.argv[1],int(sys.argv[2]),int(sys.argv[3])))\n"
        )
        url = f"{h.base_url}/runtime/webhooks/durabletask/orchestrators/chain"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, url, str(n), str(conns), stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate()
        import json

        res = json.loads(out)
        await wait_done(h, n, timeout=600)
    lat = [x * 1000 for x in res["lat"]]
    return {"value": n / res["wall"], "p99": pct(lat, 99), "p50": median(lat)}


async def w9(cfg: Cfg, n: int = 200) -> dict[str, Any]:
    """n external events raised at once to one waiting instance: events/s."""
    async with host(cfg) as h:
        iid = start(h, "waiter", str(n))
        for _ in range(n):
            ops.raise_event(h.ctx, iid, "e", "1")
        await wait_done(h, 1, poll=0.005)
        rec = records(h, [iid])[0]
        sdk = floor.sdk_seconds("waiter", [(iid, h.store.get_history(iid))])
    wall = (rec.last_updated_time - rec.created_time).total_seconds()
    return {"value": n / wall, "floor": n / sdk}


async def w10(cfg: Cfg, n: int = 1000) -> dict[str, Any]:
    """n signals to one counter entity from 8 concurrent senders (as many clients would send
    them): ops/s (first signal → entity row last update)."""
    senders = 8

    def send(count: int) -> None:
        for _ in range(count):
            ops.signal_entity(h.ctx, "counter", "k", "add", '"1"')  # input as the SDK client sends it

    async with host(cfg) as h:
        t0 = h.clock.now()
        share = [n // senders + (1 if i < n % senders else 0) for i in range(senders)]
        await asyncio.gather(*(asyncio.to_thread(send, k) for k in share))
        while True:
            exists, state = await asyncio.to_thread(ops.read_entity, h.ctx, "counter", "k")
            if exists and state is not None and int(state) >= n:
                break
            await asyncio.sleep(0.005)
        rec = h.store.get_instance("@counter@k")
    return {"value": n / (rec.last_updated_time - t0).total_seconds()}


async def w11(cfg: Cfg, idle: float, samples: int) -> dict[str, Any]:
    """Enqueue (committed, notify) → the episode starting on a pool thread, after `idle` s."""
    async with host(cfg) as h:
        d = h.dispatcher
        marks: dict[str, float] = {}
        inner_run, inner_notify = d.episodes.result, h.ctx.notify

        def run_episode(item: Any) -> Any:
            marks.setdefault("dispatch", time.perf_counter())
            return inner_run(item)

        def notify() -> None:
            marks.setdefault("enqueue", time.perf_counter())
            inner_notify()

        d.episodes.result, h.ctx.notify = run_episode, notify  # type: ignore[method-assign]
        start(h, "chain", "0")  # warm
        await wait_done(h, 1)
        out = []
        for k in range(samples):
            await asyncio.sleep(idle if k == 0 else min(idle, 1.0))
            marks.clear()
            start(h, "chain", "0")
            await wait_done(h, k + 2)
            out.append((marks["dispatch"] - marks["enqueue"]) * 1000)
    return {"value": median(out), "first": out[0], "max": max(out)}


async def w12(cfg: Cfg, size: int, n: int = 10) -> dict[str, Any]:
    """Latency of a 2-episode orchestration whose activity returns `size` bytes."""
    async with host(cfg) as h:
        await _one_by_one(h, "big", str(size), 1)
        lat = await _one_by_one(h, "big", str(size), n)
    return {"value": median(lat)}


async def w13(cfg: Cfg, n: int = 200) -> dict[str, Any]:
    """W1 at n orchestrations on the Azure Storage backend against Azurite."""
    import sys

    sys.path.insert(0, str(REPO))
    from tests.azurite import find_azurite, run_azurite  # type: ignore[import-not-found]

    if find_azurite() is None and not os.environ.get("AZURITE_CONNECTION_STRING"):
        raise Unavailable("skipped: Azurite not available")
    from durable_local.store import open_store

    with run_azurite() as az, tempfile.TemporaryDirectory() as tmp:
        store = open_store(
            "azure",
            Path(tmp),
            connection_string=az.connection_string,
            hub_name=f"bench{time.time_ns() % 10**9}",
            delete_hub_on_close=True,
        )
        async with host(Cfg(store="azure", sessions=cfg.sessions), store=store) as h:
            calls_before = store.stats()
            cpu_before = time.process_time()
            azurite_before = _group_cpu(az.process)
            ids = [start(h, "chain", "5") for _ in range(n)]
            deadline = time.monotonic() + 900
            # the figure comes from the rows' timestamps; this only decides when to stop. On Azure
            # done_count lists the Instances table: poll gently, off the host's event loop
            while await asyncio.to_thread(done_count, h) < n and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
            cpu = time.process_time() - cpu_before
            azurite_cpu = _group_cpu(az.process) - azurite_before
            calls = _per_orchestration(store.stats(), calls_before, n)  # before the reads below
            recs = records(h, ids)
            sessions = h.dispatcher.options.sessions
            hits = sessions.hits if sessions is not None else 0  # do sessions survive the round trip?
    return {
        "value": throughput(recs),
        "session_hits": hits,
        "calls_per_orch": round(sum(calls.values()), 1),
        "calls_by_kind": calls,
        "cpu_ms_per_orch": round(cpu * 1000 / n, 1),
        "azurite_cpu_ms_per_orch": round(azurite_cpu * 1000 / n, 1),
    }


def _group_cpu(process: Any) -> float:
    """CPU seconds used so far by a process group (Azurite runs in its own; node and its
    children), from /proc; 0 where that cannot be read (another OS, an external Azurite)."""
    if process is None:
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == process.pid:  # fields[2]: the process group id
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _per_orchestration(after: dict[str, int], before: dict[str, int], n: int) -> dict[str, float]:
    """Storage calls per orchestration by kind, between two ``AzureStore.stats()`` snapshots:
    the host's calls, idle polls included, plus the bench's own completion check (one
    Instances query a second)."""
    diff = {k: (v - before.get(k, 0)) / n for k, v in sorted(after.items())}
    return {k: round(v, 2) for k, v in diff.items() if v}


class Unavailable(Exception):
    """A workload or peer that cannot run here; the message goes into the table."""


async def w14(cfg: Cfg, n: int = 1000, via: str = "queue") -> dict[str, Any]:
    """n orchestrations (3 activities each) started by n queue messages on Azurite, or by n HTTP
    requests to an HTTP starter (``via="http"``): messages (or requests) per second end to end,
    from the first message sent until the last orchestration completed."""
    import base64
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import aiohttp

    sys.path.insert(0, str(REPO))
    from tests.azurite import find_azurite, run_azurite  # type: ignore[import-not-found]

    if find_azurite() is None and not os.environ.get("AZURITE_CONNECTION_STRING"):
        raise Unavailable("skipped: Azurite not available")
    from azure.storage.queue import QueueClient

    app_dir = REPO / "bench" / "apps" / "queue_app"
    with run_azurite() as az:
        queue = f"bench-{time.time_ns() % 10**9}"
        os.environ.update({"AzureWebJobsStorage": az.connection_string, "BENCH_QUEUE": queue})
        client = QueueClient.from_connection_string(az.connection_string, queue)
        client.create_queue()
        async with host(cfg, app_dir, http=True) as h:
            t0 = time.monotonic()
            if via == "queue":
                body = base64.b64encode(b'"x"').decode()
                with ThreadPoolExecutor(8) as pool:  # a producer as fast as the SDK allows
                    await asyncio.get_running_loop().run_in_executor(
                        None, lambda: list(pool.map(lambda _: client.send_message(body), range(n)))
                    )
            else:
                sem = asyncio.Semaphore(8)
                async with aiohttp.ClientSession() as session:

                    async def post() -> None:
                        async with sem, session.post(f"{h.base_url}/api/start", data=b'"x"') as r:
                            assert r.status == 202, await r.text()

                    await asyncio.gather(*(post() for _ in range(n)))
            deadline = time.monotonic() + 900
            while await asyncio.to_thread(done_count, h) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            done = done_count(h)
            elapsed = time.monotonic() - t0
    if done < n:
        raise RuntimeError(f"only {done} of {n} orchestrations completed")
    return {"value": n / elapsed}
