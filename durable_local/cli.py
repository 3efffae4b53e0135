"""Command line: ``python -m durable_local start | replay | export | lint``."""

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

from durable_local.app_loader import AppLoadError
from durable_local.store.base import StoreError
from durable_local.tools import cli as tools_cli


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m durable_local", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="serve a Function App like `func start`")
    s.add_argument("--app-dir", type=Path, default=Path("."))
    s.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    s.add_argument("--port", type=int, default=int(os.environ.get("FUNCTIONS_HTTPWORKER_PORT", "7071")))
    s.add_argument("--store", choices=["sqlite", "memory", "azure"], default="sqlite")
    s.add_argument("--data-dir", type=Path, default=Path(".durable"))
    s.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL", help="SQLite durability")
    s.add_argument(
        "--master-key",
        default=os.environ.get("DURABLE_LOCAL_MASTER_KEY"),
        help="enforce function/host/master keys (cloud-parity mode)",
    )
    s.add_argument(
        "--allow-remote-without-keys", action="store_true", help="bind a non-loopback address with auth off (unsafe)"
    )
    s.add_argument("-v", "--verbose", action="store_true")
    tools_cli.add_subcommands(sub)
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


# SDK notices with nothing for someone running an app to act on: the one-time df_loads / loose
# codec advisories of azure-functions, and its auth-level warning for apps without HTTP triggers.
# Shown with --verbose.
QUIET_NOTICES = (
    "azure.functions df_loads was called without expected_type",
    "azure.functions Durable JSON codec reconstructed",
    "Auth level is not applied",
)


class SdkNoticeFilter(logging.Filter):
    """Drops the :data:`QUIET_NOTICES` records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_NOTICES)


def configure_logging(verbose: bool) -> None:
    """Host log format and level; the SDK's start-up notices hidden unless ``verbose``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(SdkNoticeFilter())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(bool(getattr(args, "verbose", False)))
    if args.command in tools_cli.COMMANDS:
        return tools_cli.run(args)
    if args.command == "start":
        if not _is_loopback(args.host) and not args.master_key and not args.allow_remote_without_keys:
            print(
                f"error: refusing to bind {args.host} with auth off. Pass --master-key KEY to enforce keys, "
                "or --allow-remote-without-keys if you really want an open host.",
                file=sys.stderr,
            )
            return 2
        try:
            return asyncio.run(_serve(args))
        except KeyboardInterrupt:  # Ctrl-C before start-up finished
            print("Stopped.", file=sys.stderr)
            return 130
        except AppLoadError as exc:
            print(f"error: the app failed to load: {exc}", file=sys.stderr)
            return 1
        except StoreError as exc:
            print(f"error: the store could not be opened: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 2
