"""Start-up checks of bindings and storage connections: one line per problem, never a traceback.

A storage connection that is missing or unreachable does not stop the host: the functions
that need it are named, with the setting, and the rest of the app runs. When the setting
points at the local emulator, the line says how to start Azurite.
"""

from __future__ import annotations

import logging
import os
import threading

from durable_local.app_loader import Registry

from .connections import AZURITE_COMMAND, StorageConnectionError, is_local_storage, probe, setting_name
from .invocation import STORAGE_BINDINGS, binding_problem, is_trigger

log = logging.getLogger("durable_local.triggers")

_lock = threading.Lock()
_probed: dict[tuple[str, str, str], str | None] = {}


def storage_problem(setting: str, kind: str) -> str | None:
    """Why the ``kind`` service behind ``setting`` cannot be used (None: it answers). Probed
    once per process and connection string (the trigger and the bindings of a host share it)."""
    key = (setting, os.environ.get(setting) or os.environ.get(f"AzureWebJobs{setting}") or "", kind)
    with _lock:
        if key in _probed:
            return _probed[key]
    try:
        probe(setting, kind)
        problem = None
    except StorageConnectionError as exc:
        problem = str(exc)
        if is_local_storage(setting) or "is not set" in problem:
            problem += f"; start Azurite with: {AZURITE_COMMAND}"
    with _lock:
        _probed[key] = problem
    return problem


def binding_problem_lines(registry: Registry) -> list[str]:
    """One line per function binding this host cannot serve right now."""
    lines: list[str] = []
    for fi in registry.functions:
        for binding in (b for b in fi.bindings if not is_trigger(fi, b)):
            problem = binding_problem(fi, binding)
            if problem is not None:
                lines.append(f"function {fi.function_name}: {problem}; its invocations fail")
                continue
            kind = STORAGE_BINDINGS.get(str(binding.get("type")))
            if kind is None:
                continue
            setting = setting_name(binding)
            problem = storage_problem(setting, kind)
            if problem is not None:
                lines.append(
                    f"function {fi.function_name}: {kind} binding '{binding.get('name')}' "
                    f"(connection '{setting}') cannot run: {problem}"
                )
    return lines


def report_binding_problems(registry: Registry) -> None:
    for line in binding_problem_lines(registry):
        log.warning("%s", line)
