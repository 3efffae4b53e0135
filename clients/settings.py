"""App settings read by the HTTP layer (orchestrators receive them through their input)."""

from __future__ import annotations

import os

DEFAULT_APPROVAL_THRESHOLD_CENTS = 100_000
DEFAULT_APPROVAL_TIMEOUT_HOURS = 72


class SettingsError(RuntimeError):
    """An app setting has an unusable value."""


def _number(name: str, default: float, *, integer: bool) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"app setting {name}={raw!r} is not a valid number") from None
    if value < 0 or (not integer and value == 0):
        raise SettingsError(f"app setting {name}={raw!r} must be positive")
    return value


def approval_threshold_cents() -> int:
    """``APPROVAL_THRESHOLD_CENTS``: orders above this total need approval (default $1000)."""
    return int(_number("APPROVAL_THRESHOLD_CENTS", DEFAULT_APPROVAL_THRESHOLD_CENTS, integer=True))


def approval_timeout_hours() -> int | float:
    """``APPROVAL_TIMEOUT_HOURS``: how long an approval may take (default 72)."""
    value = _number("APPROVAL_TIMEOUT_HOURS", DEFAULT_APPROVAL_TIMEOUT_HOURS, integer=False)
    return int(value) if float(value).is_integer() else value
