"""Test harness: the registered user functions of ``function_app`` and SDK replay helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import function_app
from tests.app.history import History

# get_functions() may only be called once per app object.
FUNCTIONS = {fn.get_function_name(): fn for fn in function_app.app.get_functions()}


def user_function(name: str) -> Callable[..., Any]:
    """The callable the worker would invoke for the registered function ``name``."""
    return FUNCTIONS[name].get_user_function()


class OrchestratorFailed(Exception):
    """The orchestrator raised; ``state`` is the ``$OutOfProcData$`` state."""

    def __init__(self, message: str, state: dict[str, Any]) -> None:
        super().__init__(message)
        self.state = state


def run_orchestrator(name: str, history: History) -> dict[str, Any]:
    """Replay ``history`` through the SDK; the returned OrchestratorState as a dict."""
    try:
        return json.loads(user_function(name)(history.envelope()))
    except Exception as exc:
        marker = "\n\n$OutOfProcData$:"
        text = str(exc)
        if marker not in text:
            raise
        raise OrchestratorFailed(text, json.loads(text.split(marker, 1)[1])) from exc


def actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The single V3 action list."""
    assert state["schemaVersion"] == 2
    (action_list,) = state["actions"]
    return action_list


def flat(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Actions with compound (WhenAll/WhenAny) children inlined, in order."""
    out: list[dict[str, Any]] = []
    for action in actions(state):
        if action["actionType"] in (11, 12):
            out.extend(action["compoundActions"])
        else:
            out.append(action)
    return out
