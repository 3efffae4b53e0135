"""Binding expressions: ``{name}``, ``{queueTrigger}``, ``{rand-guid}``, ``{DateTime}``, ``%setting%``.

The Functions host fills ``{...}`` from the trigger's binding data (names match
case-insensitively; dotted names walk into JSON objects, e.g. ``{order.id}``) and from the
built-ins ``{rand-guid}`` / ``{rand-guid:N}`` and ``{DateTime}`` / ``{DateTime:yyyy-MM-dd}``
(UTC, .NET format letters). ``%NAME%`` is an app setting. An expression naming data the
trigger does not provide is an invocation error naming the function and the binding.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timezone
from typing import Any

_EXPR = re.compile(r"\{([^{}]+)\}")
_SETTING = re.compile(r"%([^%]+)%")
# .NET custom date format letters the host's {DateTime:...} accepts, longest first
_NET_FORMAT = [("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]
_NET_TOKEN = re.compile("|".join(token for token, _ in _NET_FORMAT))


class BindingExpressionError(Exception):
    """A ``{...}`` or ``%...%`` in a binding property cannot be resolved."""


def resolve_settings(text: str) -> str:
    """``%NAME%`` → the app setting NAME (a missing setting is an error, as in the host)."""

    def one(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            raise BindingExpressionError(f"app setting '{m.group(1)}' (named by %{m.group(1)}%) is not set")
        return value

    return _SETTING.sub(one, text)


def _format_datetime(now: datetime, fmt: str | None) -> str:
    if not fmt:
        return now.strftime("%Y-%m-%dT%H-%M-%SZ")  # the host's default: safe in blob names
    mapping = dict(_NET_FORMAT)
    return now.strftime(_NET_TOKEN.sub(lambda m: mapping[m.group(0)], fmt))


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict):
            raise KeyError(dotted)
        key = next((k for k in value if str(k).lower() == part.lower()), None)
        if key is None:
            raise KeyError(dotted)
        value = value[key]
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def resolve(text: str, data: dict[str, Any], now: datetime | None = None) -> str:
    """``text`` with every ``%setting%`` and ``{expression}`` replaced; BindingExpressionError names
    the first expression that has no value."""
    text = resolve_settings(text)
    when = now or datetime.now(timezone.utc)

    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        head, _, fmt = expr.partition(":")
        low = head.lower()
        if low == "rand-guid":
            guid = uuid.uuid4()
            return guid.hex if fmt.upper() == "N" else str(guid)
        if low == "datetime":
            return _format_datetime(when, fmt or None)
        try:
            value = _lookup(data, expr)
        except KeyError:
            known = ", ".join(sorted(data)) or "none"
            raise BindingExpressionError(f"no value for {{{expr}}} in the trigger data (available: {known})") from None
        if value is None:
            raise BindingExpressionError(f"{{{expr}}} is null in the trigger data")
        return _as_text(value)

    return _EXPR.sub(one, text)


def names_in(text: str) -> list[str]:
    """The ``{...}`` expressions in ``text`` (for start-up checks)."""
    return [m.group(1).strip() for m in _EXPR.finditer(text)]
