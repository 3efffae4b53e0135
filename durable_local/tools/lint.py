"""Static checks for orchestrator code: ``python -m durable_local lint [PATH]``.

The linter parses every module under PATH (skipping what the deployment skips: tests,
durable_local, virtualenvs, ``.funcignore`` entries), finds the orchestrators
(``@bp.orchestration_trigger`` functions and ``df.Orchestrator.create(fn)`` arguments) and
follows calls into project functions (``from orchestrators.common import settle``), so a
helper is checked when an orchestrator can reach it and activities are never flagged.

Findings (codes in lint_rules.py): DL001 ``async def`` orchestrator, DL002 generator helper
not delegated to with ``yield from``, DL003–DL009 clocks, sleeps, uuid, randomness, I/O,
environment, threads; DL010 activity/orchestrator/entity names given as literals that the
app does not register (when PATH is an app dir, the app is loaded to get its registry).
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import lint_rules as rules

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef
SKIP_DIRS = {
    "tests",
    "test",
    "durable_local",
    "node_modules",
    "__pycache__",
    "venv",
    "site-packages",
    "build",
    "dist",
    "bench",
    "infra",
    "scripts",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    orchestrators: list[str] = field(default_factory=list)
    files: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [str(f) for f in sorted(set(self.findings), key=lambda f: (f.path, f.line, f.col, f.code))]
        out += [f"note: {n}" for n in self.notes]
        if self.findings:
            out.append(f"{len(set(self.findings))} finding(s) in {len({f.path for f in self.findings})} file(s)")
        else:
            out.append(f"no findings: {len(self.orchestrators)} orchestrator(s) in {self.files} file(s) checked")
        return out


@dataclass
class _Module:
    name: str
    path: Path
    tree: ast.Module
    aliases: dict[str, str]
    functions: dict[str, FuncNode]
    constants: dict[str, str]


@dataclass
class Registry:
    """Registered durable names (lower-case) by kind, for DL010."""

    names: dict[str, dict[str, str]]

    def check(self, kind: str, name: str) -> str | None:
        known = self.names.get(kind, {})
        if name.lower() in known:
            return None
        close = difflib.get_close_matches(name.lower(), list(known), n=1)
        hint = f"did you mean '{known[close[0]]}'?" if close else f"known: {', '.join(sorted(known.values()))}"
        return f"{kind} '{name}' is not registered in the app -> use a registered name ({hint})"


def lint_path(path: Path, *, load_registry: bool = True) -> LintReport:
    """Lint a file or a directory tree; load the app registry when ``path`` is an app dir."""
    path = Path(path)
    root = path if path.is_dir() else path.parent
    files = list(_python_files(path))
    report = LintReport(files=len(files))
    registry = _load_registry(root, report) if load_registry and path.is_dir() else None
    modules: dict[str, _Module] = {}
    for f in files:
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"), str(f))
        except SyntaxError as exc:
            at = (exc.lineno or 1, exc.offset or 0)
            report.findings.append(Finding(_rel(f), *at, "DL000", f"syntax error: {exc.msg}"))
            continue
        name = ".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = _index(name, f, tree)
    _Linter(modules, registry, report).run()
    return report


def _python_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    ignore = _funcignore(path)
    for dirpath, dirnames, filenames in os.walk(path):
        rel = Path(dirpath).relative_to(path)
        dirnames[:] = sorted(
            d for d in dirnames if not (d.startswith(".") or d in SKIP_DIRS or _ignored(rel / d, ignore))
        )
        for fn in sorted(filenames):
            if fn.endswith(".py") and not _ignored(rel / fn, ignore):
                yield Path(dirpath) / fn


def _funcignore(root: Path) -> list[str]:
    file = root / ".funcignore"
    if not file.exists():
        return []
    return [
        ln.strip().rstrip("/")
        for ln in file.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]


def _ignored(rel: Path, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel.as_posix(), p) or fnmatch.fnmatch(rel.name, p) for p in patterns)


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _load_registry(root: Path, report: LintReport) -> Registry | None:
    script = os.environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py")
    if not (root / script).exists():
        return None
    from durable_local.app_loader import AppLoadError, load_app

    try:
        reg = load_app(root).registry
    except AppLoadError as exc:
        report.notes.append(f"function names not checked: the app failed to load: {exc}")
        return None
    table = {"activity": reg.activities, "orchestrator": reg.orchestrators, "entity": reg.entities}
    return Registry({k: {key: f.durable_name for key, f in v.items()} for k, v in table.items()})


def _index(name: str, path: Path, tree: ast.Module) -> _Module:
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    constants = {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str):
            constants.update({t.id: n.value.value for t in n.targets if isinstance(t, ast.Name)})
    return _Module(name, path, tree, rules.import_aliases(tree, name), functions, constants)


def _is_generator(fn: FuncNode) -> bool:
    """True if ``fn`` itself (not a nested def or lambda) contains yield."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    return False


class _Linter:
    def __init__(self, modules: dict[str, _Module], registry: Registry | None, report: LintReport) -> None:
        self.modules = modules
        self.registry = registry
        self.report = report

    def run(self) -> None:
        queue: list[tuple[_Module, FuncNode, str]] = []
        for mod in self.modules.values():
            for fn in self._orchestrators(mod):
                self.report.orchestrators.append(f"{mod.name}.{fn.name}")
                if isinstance(fn, ast.AsyncFunctionDef):
                    self._add(
                        mod,
                        fn,
                        "DL001",
                        f"orchestrator '{fn.name}' is `async def`: the SDK replays generator "
                        "functions only -> use `def` and `yield context.call_activity(...)`",
                    )
                queue.append((mod, fn, fn.name))
        seen: set[tuple[str, str]] = set()
        while queue:
            mod, fn, root = queue.pop()
            if (mod.name, fn.name) in seen:
                continue
            seen.add((mod.name, fn.name))
            queue += self._check_function(mod, fn, root)

    def _orchestrators(self, mod: _Module) -> list[FuncNode]:
        found = [
            fn
            for fn in mod.functions.values()
            if any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "orchestration_trigger"
                for d in fn.decorator_list
            )
        ]
        for node in ast.walk(mod.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create"
                and (rules.dotted_name(node.func, mod.aliases) or "").endswith("Orchestrator.create")
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in mod.functions
            ):
                found.append(mod.functions[node.args[0].id])
        return list(dict.fromkeys(found))

    def _add(self, mod: _Module, node: ast.AST, code: str, message: str) -> None:
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
        self.report.findings.append(Finding(_rel(mod.path), line, col, code, message))

    def _check_function(self, mod: _Module, fn: FuncNode, root: str) -> list[tuple[_Module, FuncNode, str]]:
        where = f"in {fn.name}" + (f" (reached from orchestrator {root})" if fn.name != root else "")
        delegated = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.YieldFrom)}
        yielded = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Yield) and n.value is not None}
        callees: list[tuple[_Module, FuncNode, str]] = []
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                self._check_call(mod, node, where)
                target = self._resolve(mod, node.func)
                if target is None:
                    continue
                callees.append((*target, root))
                if _is_generator(target[1]) and id(node) not in delegated:
                    how = "yields the generator object itself" if id(node) in yielded else "never runs its body"
                    self._add(
                        mod,
                        node,
                        "DL002",
                        f"'{target[1].name}' is a generator helper called without "
                        f"`yield from` {where}: this {how}, so its tasks are never scheduled -> use "
                        f"`result = yield from {target[1].name}(...)`",
                    )
            elif (
                isinstance(node, ast.Attribute | ast.Name)
                and isinstance(getattr(node, "ctx", None), ast.Load)
                and rules.dotted_name(node, mod.aliases) == rules.ENVIRON
            ):
                self._add(
                    mod,
                    node,
                    "DL008",
                    f"os.environ {where} reads the environment, which can differ "
                    f"between replays and hosts -> {rules.ENV}",
                )
        return callees

    def _check_call(self, mod: _Module, node: ast.Call, where: str) -> None:
        name = rules.dotted_name(node.func, mod.aliases)
        rule = rules.rule_for(name) if name else None
        if rule is not None:
            self._add(mod, node, rule.code, f"{name}() {where} {rule.what} -> {rule.alternative}")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in rules.IO_METHODS:
            self._add(mod, node, "DL007", f".{node.func.attr}() {where} does file I/O -> {rules.IO}")
        if self.registry is None:
            return
        attr = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if attr in rules.NAME_ARGS:
            kind, keyword = rules.NAME_ARGS[attr]
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == keyword), None)
            self._check_name(mod, node, kind, arg)
        elif attr == "EntityId" and node.args:
            self._check_name(mod, node, "entity", node.args[0])

    def _check_name(self, mod: _Module, node: ast.Call, kind: str, arg: ast.expr | None) -> None:
        value = self._literal(mod, arg)
        if value is None or self.registry is None:
            return
        problem = self.registry.check(kind, value)
        if problem is not None:
            self._add(mod, node, "DL010", problem)

    def _literal(self, mod: _Module, arg: ast.expr | None) -> str | None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.Name):
            if arg.id in mod.constants:
                return mod.constants[arg.id]
            target = mod.aliases.get(arg.id, "")
            owner = self.modules.get(target.rpartition(".")[0])
            if owner is not None:
                return owner.constants.get(target.rpartition(".")[2])
        return None

    def _resolve(self, mod: _Module, func: ast.expr) -> tuple[_Module, FuncNode] | None:
        if isinstance(func, ast.Name):
            if func.id in mod.functions:
                return mod, mod.functions[func.id]
            dotted = mod.aliases.get(func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            base = mod.aliases.get(func.value.id)
            dotted = f"{base}.{func.attr}" if base else None
        else:
            return None
        if not dotted:
            return None
        owner_name, _, fn_name = dotted.rpartition(".")
        owner = self.modules.get(owner_name)
        if owner is None or fn_name not in owner.functions:
            return None
        return owner, owner.functions[fn_name]
