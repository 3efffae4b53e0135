"""Static scan: orchestrators/ must not use clocks, randomness, environment, I/O or network."""

from __future__ import annotations

import ast
from pathlib import Path

ORCHESTRATORS = Path(__file__).resolve().parents[2] / "orchestrators"
BANNED_CALLS = {
    "now",
    "utcnow",
    "today",
    "uuid1",
    "uuid4",
    "sleep",
    "time",
    "monotonic",
    "perf_counter",
    "getenv",
    "open",
    "urlopen",
    "random",
    "randint",
    "choice",
    "shuffle",
    "Thread",
}
BANNED_ATTRS = {"environ"}
BANNED_MODULES = {
    "random",
    "time",
    "uuid",
    "os",
    "requests",
    "urllib",
    "socket",
    "http",
    "aiohttp",
    "httpx",
    "threading",
    "asyncio",
    "subprocess",
    "secrets",
    "sqlite3",
}


def violations(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in BANNED_CALLS:
                found.append(f"call {name}() at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and node.attr in BANNED_ATTRS:
            found.append(f"attribute .{node.attr} at line {node.lineno}")
    return found


def test_orchestrators_have_no_nondeterministic_calls():
    files = sorted(ORCHESTRATORS.glob("*.py"))
    assert files
    report = {f.name: v for f in files if (v := violations(f.read_text(), str(f)))}
    assert report == {}


def test_scanner_catches_the_usual_suspects():
    sample = (
        "import random\nimport os\nfrom datetime import datetime\nx = datetime.now()\ny = os.environ['A']\n"
    )
    assert len(violations(sample, "sample.py")) == 4
