"""The ``replay``, ``export`` and ``lint`` subcommands of ``python -m durable_local``.

``durable_local/cli.py`` only registers these parsers and forwards to :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from durable_local.console import error, one_line
from durable_local.store.base import Store

COMMANDS = ("replay", "export", "lint")


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser], **parser_kw: Any) -> None:
    """Register the tool subcommands on the main parser's subparsers (``parser_kw``: the main
    parser's epilog and formatter, so every command's help looks alike)."""

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", **parser_kw)

    r = add("replay", "re-run stored or exported histories through the current code (exit 1 on divergence)")
    _store_args(r)
    r.add_argument("files", nargs="*", type=Path, metavar="FILE", help="history files or folders of them (*.json)")
    r.add_argument(
        "--instance", action="append", default=[], metavar="ID", help="replay this stored instance (repeatable)"
    )
    r.add_argument("--all", action="store_true", help="replay every orchestration instance in the store")
    r.add_argument("--no-locate", action="store_true", help="skip the (slow) search for the source line")
    e = add("export", "write an instance's metadata and full history as JSON")
    _store_args(e)
    e.add_argument("instance_id", metavar="INSTANCE_ID", help="the instance to export")
    e.add_argument(
        "--out",
        metavar="FILE",
        help="output file, '-' for stdout (default: DATA_DIR/exports/INSTANCE_ID.json, which holds customer "
        "data and so stays out of git and of the deployment package)",
    )
    lint = add("lint", "check orchestrators for non-deterministic code (exit 1 on findings)")
    lint.add_argument(
        "path", nargs="?", type=Path, default=Path("."), metavar="PATH", help="app folder or file (default: .)"
    )
    lint.add_argument(
        "--no-load", action="store_true", help="do not import the app to check the function names it calls"
    )


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--app-dir", type=Path, default=Path("."), metavar="DIR", help="folder holding function_app.py (default: .)"
    )
    p.add_argument(
        "--store", choices=["sqlite", "memory", "azure"], default="sqlite", help="the host's store (default: sqlite)"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".durable"),
        metavar="DIR",
        help="folder of the SQLite store (default: .durable)",
    )


def run(args: argparse.Namespace) -> int:
    """Run one tool subcommand; 0 ok, 1 findings/divergence, 2 usage or load errors."""
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "export":
            return _export(args)
        return _lint(args)
    except (OSError, ValueError, KeyError) as exc:
        return error(one_line(exc))


def _open_store(args: argparse.Namespace, hub_name: str | None = None) -> Store:
    from durable_local.store import open_store

    if args.store == "sqlite" and not (args.data_dir / "durable.db").exists():
        raise OSError(f"no SQLite store at {args.data_dir / 'durable.db'} (pass --data-dir)")
    opts: dict[str, object] = {}
    if args.store == "azure":
        from durable_local.app_loader import load_local_settings, read_host_json

        load_local_settings(args.app_dir.resolve())
        opts["hub_name"] = hub_name or read_host_json(args.app_dir.resolve()).hub_name
    return open_store(args.store, args.data_dir, **opts)


def _replay(args: argparse.Namespace) -> int:
    from durable_local.app_env import app_process_env
    from durable_local.app_loader import AppLoadError, load_app

    if not (args.files or args.instance or args.all):
        return error("give history FILEs, --instance ID or --all")
    # paths given by the user mean what they meant where the command ran; the histories then
    # replay with the app's root as the working directory, as its code runs in the worker
    args.files = [Path(f).resolve() for f in args.files]
    args.data_dir = Path(args.data_dir).resolve()
    try:
        app = load_app(args.app_dir)
    except AppLoadError as exc:
        return error(f"the app failed to load: {one_line(exc)}")
    with app_process_env(app.app_dir):
        return _replay_loaded(args, app)


def _replay_loaded(args: argparse.Namespace, app: Any) -> int:
    import dataclasses

    from durable_local.runtime.engine_options import engine_options

    from .history_file import all_orchestration_ids, export_instance, read_history_file
    from .replay import Replayer

    docs = []
    for path in args.files:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        docs += [read_history_file(f) for f in files]
    if args.instance or args.all:
        store = _open_store(args, app.settings.hub_name)
        try:
            ids = list(args.instance) + (all_orchestration_ids(store) if args.all else [])
            docs += [export_instance(store, i) for i in dict.fromkeys(ids)]
        finally:
            store.close()
    # no extended sessions: the replayer checks every history from the start
    replayer = Replayer(engine_options(app.registry, dataclasses.replace(app.settings, extended_sessions=False)))
    failed = 0
    for doc in docs:
        report = replayer.replay(doc, locate=not args.no_locate)
        print(report.format())
        failed += not report.ok
    tail = f"; {failed} diverged" if failed else ""
    print(f"\n{len(docs) - failed} of {len(docs)} histories replayed cleanly{tail}")
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    from .history_file import export_instance, write_history_file

    store = _open_store(args)
    try:
        doc = export_instance(store, args.instance_id)
    finally:
        store.close()
    if args.out == "-":
        print(json.dumps(doc.to_json(), indent=1, ensure_ascii=False))
        return 0
    out = Path(args.out) if args.out else default_export_path(args.data_dir, args.instance_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_history_file(doc, out)
    print(f"wrote {out} ({len(doc.history)} events, {doc.instance.get('runtimeStatus')})", file=sys.stderr)
    return 0


def default_export_path(data_dir: Path, instance_id: str) -> Path:
    """``DATA_DIR/exports/<id>.json``: beside the store, ignored like it (histories hold customer data)."""
    return Path(data_dir) / "exports" / (re.sub(r"[^A-Za-z0-9._-]", "_", instance_id) + ".json")


def _lint(args: argparse.Namespace) -> int:
    from .lint import lint_path

    report = lint_path(args.path, load_registry=not args.no_load)
    for line in report.lines():
        print(line)
    return 1 if report.findings else 0
