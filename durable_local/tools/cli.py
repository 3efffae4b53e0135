"""The ``replay``, ``export`` and ``lint`` subcommands of ``python -m durable_local``.

``durable_local/cli.py`` only registers these parsers and forwards to :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("replay", "export", "lint")


def add_subcommands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the tool subcommands on the main parser's subparsers."""
    r = sub.add_parser("replay", help="re-run stored or exported histories through the current code")
    _store_args(r)
    r.add_argument("files", nargs="*", type=Path, help="history files or directories of them (*.json)")
    r.add_argument("--instance", action="append", default=[], help="replay this stored instance (repeatable)")
    r.add_argument("--all", action="store_true", help="replay every orchestration instance in the store")
    r.add_argument("--no-locate", action="store_true", help="skip the (slow) source-line search")
    e = sub.add_parser("export", help="write an instance's metadata and full history as JSON")
    _store_args(e)
    e.add_argument("instance_id")
    e.add_argument("--out", type=Path, help="output file (default: stdout)")
    lint = sub.add_parser("lint", help="check orchestrators for non-deterministic code (exit 1 on findings)")
    lint.add_argument("path", nargs="?", type=Path, default=Path("."))
    lint.add_argument("--no-load", action="store_true", help="do not import the app to check function names")


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--app-dir", type=Path, default=Path("."))
    p.add_argument("--store", choices=["sqlite", "memory", "azure"], default="sqlite")
    p.add_argument("--data-dir", type=Path, default=Path(".durable"))


def run(args: argparse.Namespace) -> int:
    """Run one tool subcommand; 0 ok, 1 findings/divergence, 2 usage or load errors."""
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "export":
            return _export(args)
        return _lint(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _open_store(args: argparse.Namespace, hub_name: str | None = None):  # type: ignore[no-untyped-def]
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
        print("error: give history FILEs, --instance ID or --all", file=sys.stderr)
        return 2
    # paths given by the user mean what they meant where the command ran; the histories then
    # replay with the app's root as the working directory, as its code runs in the worker
    args.files = [Path(f).resolve() for f in args.files]
    args.data_dir = Path(args.data_dir).resolve()
    try:
        app = load_app(args.app_dir)
    except AppLoadError as exc:
        print(f"error: the app failed to load: {exc}", file=sys.stderr)
        return 2
    with app_process_env(app.app_dir):
        return _replay_loaded(args, app)


def _replay_loaded(args: argparse.Namespace, app: Any) -> int:
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
    replayer = Replayer(engine_options(app.registry, app.settings.default_version))
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
    if args.out is None:
        print(json.dumps(doc.to_json(), indent=1, ensure_ascii=False))
    else:
        write_history_file(doc, args.out)
        print(f"wrote {args.out} ({len(doc.history)} events, {doc.instance.get('runtimeStatus')})", file=sys.stderr)
    return 0


def _lint(args: argparse.Namespace) -> int:
    from .lint import lint_path

    report = lint_path(args.path, load_registry=not args.no_load)
    for line in report.lines():
        print(line)
    return 1 if report.findings else 0
