"""Command line: ``durable-local start | replay | export | lint`` (also ``python -m durable_local``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

from durable_local import __version__
from durable_local.app_loader import AppLoadError, local_http_port
from durable_local.console import PROG, error, one_line
from durable_local.logs import configure_logging
from durable_local.store.base import StoreError
from durable_local.tools import cli as tools_cli

DESCRIPTION = (
    "A local host for Azure Durable Functions apps (Python v2 programming model): serves the app's "
    "HTTP routes and the Durable HTTP API like `func start`, with no .NET and no Core Tools."
)
EXIT_CODES = """exit codes:
  0    success (start: stopped cleanly with Ctrl-C or SIGTERM)
  1    replay: a history diverged from the code; lint: findings
  2    an error stopped the command: bad arguments, the app failed to load,
       the store could not be opened, the port is taken, refused bind
  130  interrupted before start-up finished"""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions to the terminal but keeps the exit-code table as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit codes:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    """The ``durable-local`` argument parser (the README's usage blocks are its help)."""
    common = {"epilog": EXIT_CODES, "formatter_class": HelpFormatter}
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, **common)  # type: ignore[arg-type]
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser(
        "start",
        help="serve a Function App like `func start`",
        description="Serve the Function App in --app-dir like `func start`: its HTTP routes, the Durable HTTP "
        "API and the dashboard. Reads local.settings.json and host.json from the app folder.",
        **common,  # type: ignore[arg-type]
    )
    s.add_argument(
        "--app-dir", type=Path, default=Path("."), metavar="DIR", help="folder holding function_app.py (default: .)"
    )
    s.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="bind address (default: 127.0.0.1, loopback only)"
    )
    s.add_argument(
        "--port",
        type=int,
        metavar="PORT",
        help="HTTP port (default: local.settings.json Host.LocalHttpPort, else $FUNCTIONS_HTTPWORKER_PORT, "
        "else 7071)",
    )
    s.add_argument(
        "--store",
        choices=["sqlite", "memory", "azure"],
        default="sqlite",
        help="where state lives: sqlite (a file in the data folder), memory (gone on exit) or azure "
        "(Azure Storage or Azurite named by AzureWebJobsStorage; needs the [azure] extra) (default: sqlite)",
    )
    s.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".durable"),
        metavar="DIR",
        help="folder of the SQLite store (default: .durable)",
    )
    s.add_argument(
        "--synchronous",
        choices=["FULL", "NORMAL"],
        default="FULL",
        help="SQLite durability: FULL syncs every episode's commit before the work it sends goes out, "
        "NORMAL may lose the last commits on power loss (default: FULL)",
    )
    s.add_argument(
        "--master-key",
        metavar="KEY",
        default=os.environ.get("DURABLE_LOCAL_MASTER_KEY"),
        help="enforce function/host/master keys like Azure does (default: $DURABLE_LOCAL_MASTER_KEY, "
        "else no keys are checked)",
    )
    s.add_argument(
        "--allow-remote-without-keys",
        action="store_true",
        help="allow a non-loopback --host with keys off (unsafe; default: refused)",
    )
    s.add_argument("-v", "--verbose", action="store_true", help="debug logging (default: info)")
    tools_cli.add_subcommands(sub, **common)
    return p


async def _serve(args: argparse.Namespace) -> int:
    from durable_local.runtime.host import Host, HostConfig
    from durable_local.runtime.worker import shutdown_worker

    config = HostConfig(
        app_dir=args.app_dir,
        host=args.host,
        port=args.port,
        store=args.store,
        data_dir=args.data_dir,
        synchronous=args.synchronous,
        master_key=args.master_key,
        system_key=args.master_key,
    )
    host = Host(config)
    await host.start()
    print(
        f"\nDurable local host: hub '{host.app.settings.hub_name}', store {args.store}"
        + (f" ({args.data_dir})" if args.store == "sqlite" else "")
    )
    print("\nFunctions:\n")
    for line in host.route_lines():
        print(line)
    print(f"\nDurable HTTP API: {host.base_url}/runtime/webhooks/durabletask/instances")
    print(f"Dashboard:        {host.base_url}/_durable/\n")
    print("Press Ctrl+C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("\nStopping: finishing in-flight work...", flush=True)
    await host.stop()
    shutdown_worker()
    print("Stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see EXIT_CODES)."""
    args = build_parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    try:
        if args.command in tools_cli.COMMANDS:
            return tools_cli.run(args)
        return _start(args)
    except KeyboardInterrupt:  # Ctrl-C before start-up finished
        print("Stopped.", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            raise
        # a bug of ours, not the user's input: still one line, the traceback is behind -v
        return error(f"{type(exc).__name__}: {one_line(exc)} (run with -v for the traceback)")


def _default_port(app_dir: Path) -> int:
    """The port `func start` would use: local.settings.json's Host.LocalHttpPort, else 7071."""
    return local_http_port(app_dir) or int(os.environ.get("FUNCTIONS_HTTPWORKER_PORT") or 7071)


def _start(args: argparse.Namespace) -> int:
    if not _is_loopback(args.host) and not args.master_key and not args.allow_remote_without_keys:
        return error(
            f"refusing to bind {args.host} with auth off. Pass --master-key KEY to enforce keys, "
            "or --allow-remote-without-keys if you really want an open host."
        )
    try:
        if args.port is None:
            args.port = _default_port(args.app_dir)
        return asyncio.run(_serve(args))
    except AppLoadError as exc:
        return error(f"the app failed to load: {one_line(exc)}")
    except StoreError as exc:
        return error(f"the store could not be opened: {one_line(exc)}")
    except OSError as exc:
        return error(one_line(exc))
