"""``python -m bench [--quick] [--only W1,W2] [--runs N] [--out FILE]``: W1–W13, one table.

Every workload runs in a fresh process: a warm-up run, then ``--runs`` measured runs (5 by
default, 1 with ``--quick``; the NORMAL column and the durabletask peer take at most 3, the
slow rows W3, W5 300, W12, W13 at most 3 and W7 5000 one); the table shows medians. Headline: SQLite WAL with
synchronous=FULL; NORMAL alongside. Peers, measured in the same invocation: the SDK floor
(the stock azure-functions-durable replay of the same histories, no host) and
durabletask-python's in-memory backend on the same workload. Rows marked "(2 worker
processes)" run the same workload with FUNCTIONS_WORKER_PROCESS_COUNT=2: the host keeps the
store and dispatch, two spawned worker processes run the episodes and activities.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def plan(quick: bool, runs: int) -> list[dict[str, Any]]:
    """(row key, spec) for every measurement; quick = tiny N for a CI smoke run."""
    q = quick
    r3 = min(runs, 3)
    rows: list[dict[str, Any]] = [
        {"row": "W1", "w": "W1", "kw": {"n": 100 if q else 1000}, "warm": {"n": 20}, "normal": True, "peer": True},
        {
            "row": "W1 (2 worker processes)",
            "w": "W1",
            "kw": {"n": 100 if q else 1000},
            "warm": {"n": 20},
            "wp": 2,
            "normal": True,
            "peer_of": "W1",
        },
        {"row": "W2", "w": "W2", "kw": {"n": 10 if q else 50}, "warm": {"n": 2}, "normal": True, "peer": True},
        {"row": "W3", "w": "W3", "kw": {"n": 30 if q else 500}, "warm": {"n": 10}, "runs": r3},
        {
            "row": "W3 (2 worker processes)",
            "w": "W3",
            "kw": {"n": 30 if q else 500},
            "warm": {"n": 10},
            "runs": r3,
            "wp": 2,
        },
        {"row": "W4", "w": "W4", "kw": {"length": 20 if q else 100}, "warm": {"length": 5}},
    ]
    for length in [10, 50] if q else [10, 100, 300, 1000]:
        rows.append(
            {
                "row": f"W5 chain {length}",
                "w": "W5",
                "kw": {"length": length},
                "warm": {"length": 5},
                "runs": runs if length <= 100 else r3 if length <= 300 else 1,
            }
        )
        if length in (50, 300):  # the same chain with every episode a full replay, side by side
            rows.append(
                {
                    "row": f"W5 chain {length} (sessions off)",
                    "w": "W5",
                    "kw": {"length": length},
                    "warm": {"length": 5},
                    "runs": r3,
                    "sessions": False,
                }
            )
    rows.append(
        {
            "row": "W6",
            "w": "W6",
            "kw": {"width": 100 if q else 1000},
            "warm": {"width": 20},
            "normal": True,
            "peer": True,
        }
    )
    rows.append(
        {
            "row": "W6 (2 worker processes)",
            "w": "W6",
            "kw": {"width": 100 if q else 1000},
            "warm": {"width": 20},
            "wp": 2,
            "normal": True,
            "peer_of": "W6",
        }
    )
    for width in [10, 100] if q else [10, 100, 1000, 5000]:
        rows.append(
            {
                "row": f"W7 width {width}",
                "w": "W7",
                "kw": {"width": width},
                "warm": None,
                "runs": runs if width <= 1000 else 1,
            }
        )
    rows.append(
        {
            "row": f"W7 width {100 if q else 5000} (2 worker processes)",
            "w": "W7",
            "kw": {"width": 100 if q else 5000},
            "warm": None,
            "runs": 1,
            "wp": 2,
        }
    )
    rows += [
        {"row": "W8", "w": "W8", "kw": {"n": 300 if q else 3000}, "warm": {"n": 100}, "normal": True},
        {"row": "W9", "w": "W9", "kw": {"n": 50 if q else 200}, "warm": {"n": 10}, "peer": True},
        {"row": "W10", "w": "W10", "kw": {"n": 100 if q else 1000}, "warm": {"n": 20}, "normal": True},
        {
            "row": "W11",
            "w": "W11",
            "kw": {"idle": 0.3 if q else 60.0, "samples": 3 if q else 6},
            "warm": None,
            "runs": 1,
        },
    ]
    for size in (0, 1024, 45 * 1024, 1024 * 1024):
        rows.append(
            {
                "row": f"W12 {size}",
                "w": "W12",
                "kw": {"size": size, "n": 3 if q else 10},
                "warm": {"n": 1},
                "runs": r3,
                "hidden": True,
            }
        )
    rows.append({"row": "W13", "w": "W13", "kw": {"n": 20 if q else 200}, "warm": None, "runs": 1 if q else r3})
    for via in ("queue", "http"):  # queue-started orchestrations, and the same started over HTTP beside them
        rows.append(
            {"row": f"W14 {via}", "w": "W14", "kw": {"n": 50 if q else 1000, "via": via}, "warm": None, "runs": 1}
        )
    for r in rows:
        r.setdefault("runs", runs)
    return rows


def run_spec(spec: dict[str, Any], timeout: float = 3600) -> Any:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        p = subprocess.run(
            [sys.executable, "-m", "bench.one", json.dumps(spec)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": f"exit {p.returncode}: {p.stderr.strip()[-300:]}"}


def med(results: Any, key: str = "value") -> float | None:
    if not isinstance(results, list) or not results or key not in results[0]:
        return None
    return statistics.median(r[key] for r in results)


def failure(results: Any) -> str | None:
    if isinstance(results, dict):
        return results.get("unavailable") or f"error: {results.get('error')}"
    return None


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if x >= 100:
        s = f"{x:,.0f}"
    elif x >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}"
    return s + unit


def machine() -> str:
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    load = os.getloadavg()
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, load average at start {load[0]:.1f}"


UNITS = {
    "W1": "orch/s",
    "W2": "ms p50",
    "W3": "orders/s",
    "W4": "act/s",
    "W5": "× floor",
    "W6": "act/s",
    "W7": "s",
    "W8": "starts/s",
    "W9": "events/s",
    "W10": "ops/s",
    "W11": "ms",
    "W12": "ms/episode",
    "W13": "orch/s",
    "W14": "msg/s",
}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small N, 1 run: a smoke test, not a measurement")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--only", default="", help="comma-separated row prefixes, e.g. W1,W6")
    ap.add_argument("--no-normal", action="store_true", help="skip the synchronous=NORMAL column")
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    a = ap.parse_args()
    runs = a.runs or (1 if a.quick else 5)
    only = [o.strip() for o in a.only.split(",") if o.strip()]
    rows = [r for r in plan(a.quick, runs) if not only or any(r["row"].split()[0] == o for o in only)]
    header = machine()
    print(f"# durable_local bench — {header}", flush=True)
    t_all = time.perf_counter()
    res: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = time.perf_counter()
        spec = {k: r[k] for k in ("w", "kw", "warm", "runs", "wp", "sessions") if k in r}
        got = {"full": run_spec(dict(spec, sync="FULL"))}
        if r.get("normal") and not a.no_normal:
            got["normal"] = run_spec(dict(spec, sync="NORMAL", runs=min(r["runs"], 3)))
        if r.get("peer"):
            got["peer"] = run_spec(dict(spec, peer=True, warm=r["warm"], wp=0, runs=min(r["runs"], 3)))
        if r.get("peer_of") in res:  # a variant row: compare with the peer measured for its base row
            got["peer"] = res[r["peer_of"]].get("peer")
        res[r["row"]] = got
        print(
            f"  {r['row']:<18} done in {time.perf_counter() - t:6.1f} s: "
            f"{json.dumps({k: med(v) if med(v) is not None else failure(v) for k, v in got.items()})}",
            flush=True,
        )
    table = render(rows, res, a.quick)
    print()
    print(table)
    print(f"\n(total {time.perf_counter() - t_all:.0f} s)")
    if a.out:
        a.out.write_text(f"Machine: {header}\n\nCommand: `python -m bench {' '.join(sys.argv[1:])}`\n\n{table}\n")


def render(rows: list[dict[str, Any]], res: dict[str, dict[str, Any]], quick: bool) -> str:
    lines = [
        "| workload | ours (FULL) | ours (NORMAL) | SDK floor | ours ÷ floor | durabletask in-memory "
        "| ours ÷ durabletask | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("hidden"):
            continue
        key, w = r["row"], r["w"]
        got = res[key]
        unit = UNITS[w]
        full = got["full"]
        if failure(full):
            lines.append(f"| {key} | {failure(full)} | | | | | | |")
            continue
        v = med(full)
        normal = fmt(med(got["normal"]), f" {unit}") if "normal" in got else "—"
        fl = med(full, "floor")
        peer = got.get("peer")
        pv = med(peer) if peer is not None else None
        ratio_fl = ratio_dt = "—"
        notes = []
        if fl is not None and v is not None:
            ratio_fl = f"{v / fl:.2f}"
        if pv is not None and v is not None:
            ratio_dt = f"{v / pv:.2f}"
        if peer is not None and pv is None:
            pv_s = failure(peer) or "—"
        else:
            pv_s = fmt(pv, f" {unit}") if peer is not None else "not run"
        if w == "W1":
            notes.append(f"p50 {fmt(med(full, 'p50_ms'))} ms; floor = SDK on one core")
        if w == "W2":
            notes.append(
                f"p99 {fmt(med(full, 'p99'))} ms"
                + (f" (durabletask p99 {fmt(med(peer, 'p99'))} ms)" if pv is not None else "")
            )
        if w == "W3":
            notes.append(f"p50 {fmt(med(full, 'p50_ms'))} ms")
        if w == "W5":
            notes.append(f"wall {fmt(med(full, 'wall'))} s, SDK {fmt(med(full, 'sdk'))} s")
            fl = None
        if w in ("W6", "W7"):
            notes.append(f"{fmt(med(full, 'episodes'))} episodes")
        if w == "W7":
            notes.append(f"peak RSS {fmt(med(full, 'rss_mb'))} MB")
            ratio_fl = f"{v / fl:.2f}" if fl else "—"
        if w == "W8":
            notes.append(f"p50 {fmt(med(full, 'p50'))} ms, p99 {fmt(med(full, 'p99'))} ms (client side)")
        if w == "W11":
            notes.append(
                f"first sample after {r['kw']['idle']:.0f} s idle: {fmt(med(full, 'first'))} ms, "
                f"max {fmt(med(full, 'max'))} ms"
            )
        if w == "W13":
            notes.append(
                f"per orchestration: {fmt(med(full, 'calls_per_orch'))} storage calls, "
                f"{fmt(med(full, 'cpu_ms_per_orch'))} ms host CPU, {fmt(med(full, 'azurite_cpu_ms_per_orch'))} ms "
                "Azurite CPU"
            )
        if r.get("wp"):
            notes.append(
                f"FUNCTIONS_WORKER_PROCESS_COUNT={r['wp']}: episodes and activities in {r['wp']} worker processes"
            )
        fl_s = fmt(fl, f" {unit}") if fl is not None else "—"
        lines.append(
            f"| {key} | {fmt(v, ' ' + unit)} | {normal} | {fl_s} | {ratio_fl} | {pv_s} | {ratio_dt} "
            f"| {'; '.join(notes)} |"
        )
    base = med(res.get("W12 0", {}).get("full"))
    if base is not None:
        parts = []
        for size, label in ((1024, "1 KB"), (45 * 1024, "45 KB"), (1024 * 1024, "1 MB")):
            v = med(res.get(f"W12 {size}", {}).get("full"))
            if v is not None:
                parts.append(f"{label}: +{fmt((v - base) / 2)} ms")
        lines.append(
            f"| W12 | {'; '.join(parts)} per episode | | | | not run | | "
            f"extra latency per episode vs a 0-byte result (2-episode orchestration, baseline "
            f"{fmt(base)} ms) |"
        )
    if quick:
        lines.append("\n(--quick: tiny N and 1 run; a smoke test, not a measurement)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
