"""The linter's rule table: what is non-deterministic in an orchestrator, and what to use instead.

Names are matched after import resolution (``from datetime import datetime as dt`` makes
``dt.now()`` read as ``datetime.datetime.now``), so only imported modules and a few builtins
can match; a local variable called ``time`` is not the ``time`` module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

CLOCK = "use context.current_utc_datetime (the replay-safe orchestration time)"
SLEEP = "use `yield context.create_timer(context.current_utc_datetime + timedelta(...))`"
UUID = "use context.new_uuid() (deterministic per instance and step)"
RANDOM = "derive values from context.new_uuid() or get them from an activity"
IO = "do I/O in an activity (`yield context.call_activity(...)`) or use context.call_http for HTTP"
ENV = "pass settings in the orchestration input or read them in an activity"
THREADS = "orchestrators replay on one thread; fan out with `yield context.task_all([...])` of activities"


@dataclass(frozen=True)
class Rule:
    code: str
    what: str
    alternative: str


EXACT: dict[str, Rule] = {}
for _name in (
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.localtime",
    "time.gmtime",
    "time.ctime",
):
    EXACT[_name] = Rule("DL003", "reads the wall clock, which differs on every replay", CLOCK)
for _name in ("time.sleep", "asyncio.sleep"):
    EXACT[_name] = Rule("DL004", "blocks the worker instead of waiting durably", SLEEP)
for _name in ("uuid.uuid1", "uuid.uuid4"):
    EXACT[_name] = Rule("DL005", "creates a new random id on every replay", UUID)
EXACT["os.urandom"] = Rule("DL006", "returns different random bytes on every replay", RANDOM)
for _name in ("open", "io.open", "os.open", "os.listdir", "os.scandir", "os.remove", "os.system", "os.popen"):
    EXACT[_name] = Rule("DL007", "does file/process I/O", IO)
for _name in ("os.getenv", "os.putenv"):
    EXACT[_name] = Rule("DL008", "reads the environment, which can differ between replays and hosts", ENV)

PREFIXES: list[tuple[str, Rule]] = [
    ("random.", Rule("DL006", "returns different values on every replay", RANDOM)),
    ("secrets.", Rule("DL006", "returns different values on every replay", RANDOM)),
    *(
        (p, Rule("DL007", "does network or file I/O", IO))
        for p in (
            "requests.",
            "urllib.",
            "urllib3.",
            "http.client.",
            "socket.",
            "aiohttp.",
            "httpx.",
            "subprocess.",
            "sqlite3.",
            "shutil.",
            "ftplib.",
            "smtplib.",
            "azure.storage.",
            "azure.data.",
        )
    ),
    *(
        (p, Rule("DL009", "starts threads or an event loop", THREADS))
        for p in ("threading.", "concurrent.futures.", "multiprocessing.", "asyncio.", "_thread.")
    ),
]
# Methods that do file I/O whatever the receiver (pathlib.Path and friends).
IO_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes"})
ENVIRON = "os.environ"
BUILTINS = frozenset({"open"})

# SDK calls whose first argument (or keyword) names a registered function.
NAME_ARGS: dict[str, tuple[str, str]] = {
    "call_activity": ("activity", "name"),
    "call_activity_with_retry": ("activity", "name"),
    "call_sub_orchestrator": ("orchestrator", "name"),
    "call_sub_orchestrator_with_retry": ("orchestrator", "name"),
}
ENTITY_CALLS = frozenset({"call_entity", "signal_entity"})


def rule_for(dotted: str) -> Rule | None:
    """The rule a resolved call name breaks, if any."""
    hit = EXACT.get(dotted)
    if hit is not None:
        return hit
    return next((rule for prefix, rule in PREFIXES if dotted.startswith(prefix)), None)


def dotted_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` with the base resolved through the module's imports; None if the base
    is not an imported name (or a builtin we care about)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id in aliases:
        base = aliases[node.id]
    elif node.id in BUILTINS and not parts:
        base = node.id
    else:
        return None
    return ".".join([base, *reversed(parts)])


def import_aliases(tree: ast.Module, module: str) -> dict[str, str]:
    """Local name -> dotted target for every import in the module (any nesting level)."""
    aliases: dict[str, str] = {}
    package = module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".") if package else []
                pkg = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                base = ".".join([*pkg, base]) if base else ".".join(pkg)
            for a in node.names:
                aliases[a.asname or a.name] = f"{base}.{a.name}" if base else a.name
    return aliases
